"""HTTP: the JSON API, SDK hosting, pages, the dashboard, one mapping of errors to responses."""
