"""The applications built on the library: the command line, batch tagging, the HTTP
service and Apache Beam."""
