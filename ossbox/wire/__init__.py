"""The OSS wire protocol types, below both http/ (which serves them) and ops/ (which implements
the operations on them): Request / Response, XML in and out, bucket and key naming rules."""
