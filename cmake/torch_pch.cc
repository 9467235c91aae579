// Anchor for the shared precompiled torch header (see cmake/dsbench.cmake).
