/* zlib_level.c — the PDF's streams deflated at zlib level 1 instead of the default 6 (cairo asks for the default). */
#include <zlib.h>

/* cairo (linked into polydaq statically, CMakeLists.txt) compresses every PDF stream with
 * deflateInit(Z_DEFAULT_COMPRESSION), and level 6 was a fifth of the certificate PDF's time, all
 * of it after the raw files are hashed (docs/BENCHMARKS.md). polydaq is linked with
 * --wrap=deflateInit_, so the calls from its own objects come here: the default becomes level 1
 * (the same PDF, ~5 % larger: 43.7 → 45.7 kB for the benchmark's certificate); an explicit level,
 * as the store's chunk compression passes, is kept. */
int __real_deflateInit_(z_streamp strm, int level, const char *version, int stream_size);
int __wrap_deflateInit_(z_streamp strm, int level, const char *version, int stream_size);

int __wrap_deflateInit_(z_streamp strm, int level, const char *version, int stream_size)
{
    return __real_deflateInit_(strm, level == Z_DEFAULT_COMPRESSION ? 1 : level, version, stream_size);
}
