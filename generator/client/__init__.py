"""Code almgen generates into a service's repository for the service itself to import."""
