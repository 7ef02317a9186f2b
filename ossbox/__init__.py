"""ossbox: an Alibaba Cloud OSS-compatible object store with exact AppendObject semantics."""
__version__ = "0.1.0"
