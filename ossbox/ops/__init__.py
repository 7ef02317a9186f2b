"""Operations: one function per OSS API, from a parsed Request to a Response."""
