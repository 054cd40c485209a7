"""The web app: the JSON API, login and security, and the pages, in `cio-warehouse serve`."""
