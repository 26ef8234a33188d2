// Nothing to compile: CFreshetLinux is header-only (static inline wrappers).
