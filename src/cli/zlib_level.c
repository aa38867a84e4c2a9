/* zlib_level.c — the PDF's streams stored (zlib level 0) instead of deflated at the default level 6 (cairo asks for the default). */
#include <zlib.h>

/* cairo (linked into polydaq statically, CMakeLists.txt) compresses every PDF stream with
 * deflateInit(Z_DEFAULT_COMPRESSION), all of it after the raw files are hashed (docs/BENCHMARKS.md).
 * polydaq is linked with --wrap=deflateInit_, so the calls from its own objects come here: the
 * default becomes level 0, stored blocks in the same zlib format (/FlateDecode, checksummed), which
 * every reader takes as before. Measured on the benchmark's certificate: level 6 was a fifth of the
 * PDF's time; level 1 still 6 M instructions of the 34 M of the pass after the hash (Huffman coding
 * alone, Z_HUFFMAN_ONLY, no less), level 0 none of it; the file grows from 45.6 to 86.4 kB, the
 * pages are the same. An explicit level, as the store's chunk compression passes, is kept. */
int __real_deflateInit_(z_streamp strm, int level, const char *version, int stream_size);
int __wrap_deflateInit_(z_streamp strm, int level, const char *version, int stream_size);

int __wrap_deflateInit_(z_streamp strm, int level, const char *version, int stream_size)
{
    return __real_deflateInit_(strm, level == Z_DEFAULT_COMPRESSION ? Z_NO_COMPRESSION : level, version, stream_size);
}
