"""HTTP layer: addressing, parsing, routing, XML and error rendering."""
