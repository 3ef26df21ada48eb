"""A job's whole life: the request, cheap checks, admission, slots, the run and the service."""
