"""The event loader's parts: the batch, bad-row isolation, the dlt pipelines, the status."""
