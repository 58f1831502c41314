// compress_speed: measures cluster compression speed and ratio on real
// files, to choose ClusterCompressor's level mapping (bench/compress-notes.md
// has the results).  Not built by make; from a build folder B:
//
//   g++ -O2 -std=c++17 -I. -IB bench/compress_speed.cc B/lib/qcow2/libqcow2.a \
//       B/lib/base/libbase.a -ldeflate -lz -lzstd -lpthread -o compress_speed
//   ./compress_speed [DIR [MIB [CLUSTER_BITS]]]
//
// The sample is the regular files of DIR (default /usr/lib/x86_64-linux-gnu)
// in name order, each padded to 4 KiB as a file system stores it, until MIB
// (default 256) MiB; all-zero clusters are dropped, as the qcow2 sink never
// compresses them.  Sizes count a cluster that does not shrink as stored
// plain (cluster_size bytes), as qemu and e2qimage store it.
#include <dirent.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "config.h"
#include "lib/qcow2/cluster_compressor.h"
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<uint8_t> LoadSample(const std::string& dir, size_t limit,
                                size_t cs) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<uint8_t> data;
  for (const auto& n : names) {
    std::string path = dir + "/" + n;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)),
                             std::istreambuf_iterator<char>());
    buf.resize((buf.size() + 4095) / 4096 * 4096, 0);
    data.insert(data.end(), buf.begin(), buf.end());
    if (data.size() >= limit) break;
  }
  data.resize(std::min(data.size(), limit) / cs * cs);
  // Drop all-zero clusters.
  std::vector<uint8_t> out;
  for (size_t i = 0; i < data.size(); i += cs) {
    const uint8_t* p = &data[i];
    if (std::all_of(p, p + cs, [](uint8_t b) { return b == 0; })) continue;
    out.insert(out.end(), p, p + cs);
  }
  return out;
}

void Report(const char* name, double secs, size_t in, size_t out) {
  std::printf("%-22s %8.1f MB/s  ratio %.4f  (%zu -> %zu)\n", name,
              in / secs / 1e6, double(out) / in, in, out);
}

// qemu's compressor: zlib, windowBits -12, memLevel 9, level 6.
void BenchZlib(const std::vector<uint8_t>& d, size_t cs, int level) {
  std::vector<uint8_t> buf(cs);
  size_t total = 0;
  auto t0 = Clock::now();
  z_stream s{};
  deflateInit2(&s, level, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY);
  for (size_t i = 0; i < d.size(); i += cs) {
    deflateReset(&s);
    s.next_in = const_cast<uint8_t*>(&d[i]);
    s.avail_in = cs;
    s.next_out = buf.data();
    s.avail_out = cs - 1;
    int rc = deflate(&s, Z_FINISH);
    total += rc == Z_STREAM_END ? cs - 1 - s.avail_out : cs;
  }
  deflateEnd(&s);
  char name[64];
  std::snprintf(name, sizeof name, "zlib-%d (w12)", level);
  Report(name, Seconds(t0, Clock::now()), d.size(), total);
}

void BenchLibdeflate(const std::vector<uint8_t>& d, size_t cs, int level,
                     bool verify) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  std::vector<uint8_t> buf(cs), back(cs);
  size_t total = 0, bad = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < d.size(); i += cs) {
    size_t n = libdeflate_deflate_compress(c, &d[i], cs, buf.data(), cs - 1);
    total += n ? n : cs;
    if (verify && n) {
      e2q::Status s = e2q::qcow2::DecompressCluster(
          e2q::qcow2::ClusterCompressor::Algorithm::kDeflate, buf.data(), n,
          back.data(), cs);
      if (!s.ok() || std::memcmp(back.data(), &d[i], cs) != 0) ++bad;
    }
  }
  double secs = Seconds(t0, Clock::now());
  libdeflate_free_compressor(c);
  char name[64];
  std::snprintf(name, sizeof name, "libdeflate-%d", level);
  Report(name, secs, d.size(), total);
  if (bad) std::printf("  %zu clusters did not round-trip!\n", bad);
}

#ifdef HAVE_ZSTD
void BenchZstd(const std::vector<uint8_t>& d, size_t cs, int level) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  std::vector<uint8_t> buf(cs);
  size_t total = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < d.size(); i += cs) {
    size_t n = ZSTD_compress2(c, buf.data(), cs - 1, &d[i], cs);
    total += ZSTD_isError(n) ? cs : n;
  }
  double secs = Seconds(t0, Clock::now());
  ZSTD_freeCCtx(c);
  char name[64];
  std::snprintf(name, sizeof name, "zstd-%d", level);
  Report(name, secs, d.size(), total);
}
#endif

void BenchCompressor(const std::vector<uint8_t>& d, size_t cs, uint32_t bits,
                     e2q::qcow2::ClusterCompressor::Algorithm algo, int level,
                     unsigned threads) {
  auto r = e2q::qcow2::ClusterCompressor::Create(algo, level, threads, bits);
  if (!r.ok()) {
    std::printf("Create: %s\n", r.status().ToString().c_str());
    return;
  }
  auto& c = *r;
  std::vector<std::vector<uint8_t>> out;
  const size_t batch = 256;  // as Qcow2Sink batches
  size_t total = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < d.size(); i += batch * cs) {
    size_t n = std::min(batch, (d.size() - i) / cs);
    if (!c->CompressBatch(&d[i], n, &out).ok()) std::abort();
    for (auto& v : out) total += v.empty() ? cs : v.size();
  }
  char name[64];
  std::snprintf(name, sizeof name, "%s -z%d x%u",
                algo == e2q::qcow2::ClusterCompressor::Algorithm::kDeflate
                    ? "deflate"
                    : "zstd",
                level, threads);
  Report(name, Seconds(t0, Clock::now()), d.size(), total);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "/usr/lib/x86_64-linux-gnu";
  size_t mib = argc > 2 ? std::strtoul(argv[2], nullptr, 0) : 256;
  uint32_t bits = argc > 3 ? std::strtoul(argv[3], nullptr, 0) : 16;
  size_t cs = size_t{1} << bits;
  std::vector<uint8_t> d = LoadSample(dir, mib << 20, cs);
  std::printf("sample: %zu clusters of %zu bytes (%.1f MiB)\n", d.size() / cs,
              cs, d.size() / 1048576.0);
  const char* only = std::getenv("ONLY");  // "single" or "pool"
  if (!only || std::strcmp(only, "pool") != 0) {
    BenchZlib(d, cs, 6);
    BenchZlib(d, cs, 1);
    for (int l = 1; l <= 12; ++l) BenchLibdeflate(d, cs, l, l == 6);
#ifdef HAVE_ZSTD
    for (int l = 1; l <= 9; ++l) BenchZstd(d, cs, l);
#endif
  }
  if (!only || std::strcmp(only, "single") != 0) {
    using A = e2q::qcow2::ClusterCompressor::Algorithm;
    for (int l = 1; l <= 9; ++l) {
      for (unsigned t : {1u, 2u})
        BenchCompressor(d, cs, bits, A::kDeflate, l, t);
    }
#ifdef HAVE_ZSTD
    for (unsigned t : {1u, 2u}) BenchCompressor(d, cs, bits, A::kZstd, 3, t);
#endif
  }
  return 0;
}
