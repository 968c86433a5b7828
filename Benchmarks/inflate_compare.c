/*
 * Which inflater for deferwatch's rotated .gz history (issue 18): decompresses each file
 * given with zlib (streaming, 256 KiB output buffer, as ChunkReader reads) and with
 * libdeflate (whole buffer: the compressed file read at once, the output sized by the gzip
 * trailer), and prints the best wall time of each over ROUNDS rounds. Single-member files
 * under 4 GiB only (libdeflate_gzip_decompress reads one member; the trailer's size is mod 2^32).
 *
 *   cc -O2 -o inflate_compare Benchmarks/inflate_compare.c -lz -ldeflate
 *   ./inflate_compare [ROUNDS] FILE.gz...
 */
#include <libdeflate.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(size);
    if (fread(b, 1, size, f) != (size_t)size) { perror(path); exit(2); }
    fclose(f);
    *n = size;
    return b;
}

static size_t with_zlib(const unsigned char *in, size_t n) {
    static unsigned char out[256 << 10];
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, 15 + 32);
    z.next_in = (unsigned char *)in;
    z.avail_in = n;
    size_t total = 0;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof out;
        int r = inflate(&z, Z_NO_FLUSH);
        total += sizeof out - z.avail_out;
        if (r == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            inflateReset(&z); /* another gzip member */
        } else if (r != Z_OK) {
            fprintf(stderr, "zlib: error %d\n", r);
            exit(1);
        }
    }
    inflateEnd(&z);
    return total;
}

static size_t with_libdeflate(const unsigned char *in, size_t n, struct libdeflate_decompressor *d) {
    size_t isize = in[n - 4] | in[n - 3] << 8 | in[n - 2] << 16 | (size_t)in[n - 1] << 24;
    unsigned char *out = malloc(isize + 1);
    size_t got = 0;
    if (libdeflate_gzip_decompress(d, in, n, out, isize + 1, &got) != LIBDEFLATE_SUCCESS) {
        fprintf(stderr, "libdeflate: failed\n");
        exit(1);
    }
    free(out);
    return got;
}

int main(int argc, char **argv) {
    int first = 1, rounds = 3;
    if (argc > 1 && atoi(argv[1]) > 0) { rounds = atoi(argv[1]); first = 2; }
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    double bz = 1e9, bl = 1e9;
    size_t outz = 0, outl = 0, in = 0;
    for (int r = 0; r < rounds; r++) {
        double tz = 0, tl = 0;
        outz = outl = in = 0;
        for (int i = first; i < argc; i++) {
            size_t n;
            unsigned char *b = slurp(argv[i], &n);
            in += n;
            double t0 = now();
            outz += with_zlib(b, n);
            double t1 = now();
            outl += with_libdeflate(b, n, d);
            double t2 = now();
            tz += t1 - t0;
            tl += t2 - t1;
            free(b);
        }
        if (tz < bz) bz = tz;
        if (tl < bl) bl = tl;
    }
    printf("%zu bytes in, %zu out (zlib), %zu out (libdeflate)\n", in, outz, outl);
    printf("zlib %s:       %.3f s, %.0f MB/s\n", zlibVersion(), bz, outz / bz / 1e6);
    printf("libdeflate %s: %.3f s, %.0f MB/s (%.2fx)\n", LIBDEFLATE_VERSION_STRING, bl, outl / bl / 1e6, bz / bl);
    return 0;
}
