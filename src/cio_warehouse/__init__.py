"""cio-warehouse: Customer.io data in SQL."""
