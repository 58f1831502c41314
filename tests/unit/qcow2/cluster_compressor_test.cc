// Tests for lib/cluster_compressor: compressed clusters read back through
// zlib exactly as qemu reads them (inflateInit2(-12), one inflate(Z_FINISH)
// into the whole cluster, trailing bytes allowed), clusters that do not
// shrink come back empty, and a batch's bytes do not depend on the number
// of threads.
#include "lib/qcow2/cluster_compressor.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <random>
#include <string>
#include <thread>

#include "config.h"
#include "tests/unit/test_util.h"
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

namespace e2q {
namespace {

using Algo = qcow2::ClusterCompressor::Algorithm;

// Compressible but varied: words drawn from a small vocabulary, with
// occasional binary noise so that the clusters differ in ratio.
std::vector<uint8_t> TextBytes(size_t n, uint32_t seed) {
  static const char* const kWords[] = {
      "inode ",   "extent ", "block ",   "group ",    "superblock ", "bitmap ",
      "journal ", "qcow2 ",  "cluster ", "refcount ", "\n",          "0x7f45 "};
  std::mt19937 rng(seed);
  std::vector<uint8_t> v;
  v.reserve(n);
  while (v.size() < n) {
    if (rng() % 16 == 0) {
      v.push_back(static_cast<uint8_t>(rng()));
      continue;
    }
    const char* w = kWords[rng() % (sizeof kWords / sizeof kWords[0])];
    v.insert(v.end(), w, w + std::char_traits<char>::length(w));
  }
  v.resize(n);
  return v;
}

// A batch of `n` clusters of mixed kinds: text, a repeated byte, random
// (incompressible), half text half random.
std::vector<uint8_t> MixedClusters(size_t n, size_t cs, uint32_t seed) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint8_t> c;
    switch (i % 4) {
      case 0:
        c = TextBytes(cs, seed + i);
        break;
      case 1:
        c.assign(cs, static_cast<uint8_t>(i + 1));
        break;
      case 2:
        c = RandomBytes(cs, seed + i);
        break;
      case 3:
        c = TextBytes(cs / 2, seed + i);
        auto r = RandomBytes(cs - cs / 2, seed + i);
        c.insert(c.end(), r.begin(), r.end());
        break;
    }
    v.insert(v.end(), c.begin(), c.end());
  }
  return v;
}

// qemu's qcow2_zlib_decompress, written out: true if `in` inflates to
// exactly the cluster in `expect`.
::testing::AssertionResult InflatesLikeQemu(const std::vector<uint8_t>& in,
                                            const uint8_t* expect, size_t cs) {
  std::vector<uint8_t> out(cs);
  z_stream strm{};
  if (inflateInit2(&strm, -12) != Z_OK) {
    return ::testing::AssertionFailure() << "inflateInit2";
  }
  strm.next_in = const_cast<Bytef*>(in.data());
  strm.avail_in = static_cast<uInt>(in.size());
  strm.next_out = out.data();
  strm.avail_out = static_cast<uInt>(cs);
  int rc = inflate(&strm, Z_FINISH);
  const uInt left = strm.avail_out;
  inflateEnd(&strm);
  if (!((rc == Z_STREAM_END || rc == Z_BUF_ERROR) && left == 0)) {
    return ::testing::AssertionFailure()
           << "inflate rc " << rc << ", " << left << " bytes short";
  }
  if (out != std::vector<uint8_t>(expect, expect + cs)) {
    return ::testing::AssertionFailure() << "content differs";
  }
  return ::testing::AssertionSuccess();
}

TEST(ClusterCompressorTest, DeflateReadsBackWithQemuInflate) {
  const uint32_t bits = 16;
  const size_t cs = size_t{1} << bits;
  const size_t n = 24;
  auto in = MixedClusters(n, cs, 7);
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 2, bits));
  std::vector<std::vector<uint8_t>> out;
  ASSERT_OK(c->CompressBatch(in.data(), n, &out));
  ASSERT_EQ(out.size(), n);
  size_t compressed = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* cluster = &in[i * cs];
    if (out[i].empty()) continue;
    ++compressed;
    EXPECT_LT(out[i].size(), cs);
    EXPECT_TRUE(InflatesLikeQemu(out[i], cluster, cs)) << "cluster " << i;
    // As stored: rounded up to a sector and followed by the next cluster's
    // bytes.  The stream must end by itself.
    auto padded = out[i];
    auto junk = RandomBytes(511 + 700, static_cast<uint32_t>(i));
    padded.insert(padded.end(), junk.begin(), junk.end());
    EXPECT_TRUE(InflatesLikeQemu(padded, cluster, cs)) << "cluster " << i;
    std::vector<uint8_t> back(cs);
    EXPECT_OK(qcow2::DecompressCluster(Algo::kDeflate, padded.data(),
                                       padded.size(), back.data(), cs));
    EXPECT_TRUE(std::equal(back.begin(), back.end(), cluster));
  }
  // Text, constant and half-text clusters shrink; random ones do not.
  EXPECT_EQ(compressed, n / 4 * 3);
  for (size_t i = 2; i < n; i += 4) EXPECT_TRUE(out[i].empty()) << i;
}

// libdeflate's window is 32 KiB, qemu's 4 KiB: matches reaching further back
// than 4 KiB must still decode with qemu's windowBits -12, because the whole
// cluster is inflated in one call.
TEST(ClusterCompressorTest, LongDistanceMatchesInflateWithSmallWindow) {
  const uint32_t bits = 16;
  const size_t cs = size_t{1} << bits;
  auto block = RandomBytes(16384, 3);  // repeats only 16 KiB apart
  std::vector<uint8_t> in;
  while (in.size() < cs) in.insert(in.end(), block.begin(), block.end());
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 1, bits));
  std::vector<std::vector<uint8_t>> out;
  ASSERT_OK(c->CompressBatch(in.data(), 1, &out));
  ASSERT_EQ(out.size(), 1u);
  // Only 16 KiB-distance matches can make it this small.
  ASSERT_FALSE(out[0].empty());
  EXPECT_LT(out[0].size(), cs / 3);
  EXPECT_TRUE(InflatesLikeQemu(out[0], in.data(), cs));
}

TEST(ClusterCompressorTest, AllLevelsAndClusterSizesRoundTrip) {
  for (uint32_t bits : {9u, 12u, 21u}) {
    const size_t cs = size_t{1} << bits;
    const size_t n = bits == 21 ? 2 : 8;
    auto in = MixedClusters(n, cs, bits);
    for (int level = qcow2::ClusterCompressor::kMinLevel;
         level <= qcow2::ClusterCompressor::kMaxLevel; ++level) {
      ASSERT_OK_AND_ASSIGN(auto c, qcow2::ClusterCompressor::Create(
                                       Algo::kDeflate, level, 2, bits));
      EXPECT_EQ(c->cluster_size(), cs);
      std::vector<std::vector<uint8_t>> out;
      ASSERT_OK(c->CompressBatch(in.data(), n, &out));
      ASSERT_EQ(out.size(), n);
      for (size_t i = 0; i < n; ++i) {
        // The constant cluster always shrinks; the random one never does.
        if (i % 4 == 1) {
          EXPECT_FALSE(out[i].empty());
        }
        if (i % 4 == 2) {
          EXPECT_TRUE(out[i].empty());
        }
        if (out[i].empty()) continue;
        EXPECT_TRUE(InflatesLikeQemu(out[i], &in[i * cs], cs))
            << "bits " << bits << " level " << level << " cluster " << i;
      }
    }
  }
}

// Compressing into cluster_size - 1 bytes is the line, as in qemu: a
// cluster whose compressed form is not shorter is reported as empty.
TEST(ClusterCompressorTest, IncompressibleClustersComeBackEmpty) {
  const uint32_t bits = 12;
  const size_t cs = size_t{1} << bits;
  auto in = RandomBytes(cs * 5, 11);
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kDeflate, 9, 3, bits));
  std::vector<std::vector<uint8_t>> out;
  ASSERT_OK(c->CompressBatch(in.data(), 5, &out));
  ASSERT_EQ(out.size(), 5u);
  for (const auto& v : out) EXPECT_TRUE(v.empty());
}

std::vector<std::vector<uint8_t>> CompressWith(Algo algo, unsigned threads,
                                               const std::vector<uint8_t>& in,
                                               size_t n, uint32_t bits) {
  auto c = qcow2::ClusterCompressor::Create(algo, 6, threads, bits);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return {};
  EXPECT_EQ((*c)->threads(), threads);
  std::vector<std::vector<uint8_t>> out, again;
  EXPECT_OK((*c)->CompressBatch(in.data(), n, &out));
  // Every later batch on the same pool and vectors gives the same bytes.
  for (int round = 0; round < 3; ++round) {
    EXPECT_OK((*c)->CompressBatch(in.data(), n, &again));
    EXPECT_EQ(again, out);
  }
  return out;
}

void ExpectSameAcrossThreads(Algo algo) {
  const uint32_t bits = 14;
  const size_t n = 97;  // not a multiple of any thread count
  auto in = MixedClusters(n, size_t{1} << bits, 5);
  auto one = CompressWith(algo, 1, in, n, bits);
  ASSERT_EQ(one.size(), n);
  EXPECT_EQ(CompressWith(algo, 2, in, n, bits), one);
  EXPECT_EQ(CompressWith(algo, 4, in, n, bits), one);
}

TEST(ClusterCompressorTest, DeflateBytesDoNotDependOnThreads) {
  ExpectSameAcrossThreads(Algo::kDeflate);
}

TEST(ClusterCompressorTest, EmptyAndShrinkingBatches) {
  const uint32_t bits = 12;
  const size_t cs = size_t{1} << bits;
  auto in = MixedClusters(8, cs, 9);
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kDeflate, 1, 2, bits));
  std::vector<std::vector<uint8_t>> out;
  ASSERT_OK(c->CompressBatch(in.data(), 8, &out));
  EXPECT_EQ(out.size(), 8u);
  ASSERT_OK(c->CompressBatch(in.data(), 1, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(InflatesLikeQemu(out[0], in.data(), cs));
  ASSERT_OK(c->CompressBatch(nullptr, 0, &out));
  EXPECT_TRUE(out.empty());
  ASSERT_OK(c->CompressBatch(in.data(), 8, &out));
  EXPECT_EQ(out.size(), 8u);
}

TEST(ClusterCompressorTest, RejectsBadArguments) {
  EXPECT_EQ(qcow2::ClusterCompressor::Create(Algo::kDeflate, 0, 1, 16)
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(qcow2::ClusterCompressor::Create(Algo::kDeflate, 10, 1, 16)
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(
      qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 1, 8).status().code(),
      Code::kInvalidArgument);
  EXPECT_EQ(qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 1, 22)
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 100000, 16)
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(ClusterCompressorTest, ZeroThreadsMeansEveryCpu) {
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kDeflate, 6, 0, 16));
  EXPECT_GE(c->threads(), 1u);
  EXPECT_EQ(c->threads(), std::max(1u, std::thread::hardware_concurrency()));
}

std::vector<uint8_t> DeflateOf(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(data.size() + 64);
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY), Z_OK);
  s.next_in = const_cast<Bytef*>(data.data());
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - s.avail_out);
  deflateEnd(&s);
  return out;
}

// A cluster that qemu wrote (zlib, window -12) reads back.
TEST(ClusterCompressorTest, DecompressesQemuDeflate) {
  const size_t cs = 65536;
  auto data = TextBytes(cs, 21);
  auto z = DeflateOf(data);
  z.resize(z.size() + 300, 0xa5);  // sector padding
  std::vector<uint8_t> back(cs);
  ASSERT_OK(qcow2::DecompressCluster(Algo::kDeflate, z.data(), z.size(),
                                     back.data(), cs));
  EXPECT_EQ(back, data);
}

TEST(ClusterCompressorTest, CorruptDeflateIsCorruption) {
  const size_t cs = 65536;
  std::vector<uint8_t> back(cs);
  auto data = TextBytes(cs, 22);
  auto z = DeflateOf(data);

  // Garbage: 0xff starts a block of the reserved type 3.
  std::vector<uint8_t> junk(600, 0xff);
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kDeflate, junk.data(), junk.size(),
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
  // Cut short: the input runs out before the cluster is full.
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kDeflate, z.data(), z.size() / 2,
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
  EXPECT_EQ(
      qcow2::DecompressCluster(Algo::kDeflate, z.data(), 0, back.data(), cs)
          .code(),
      Code::kCorruption);
  // A complete stream of half a cluster.
  auto half =
      DeflateOf(std::vector<uint8_t>(data.begin(), data.begin() + cs / 2));
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kDeflate, half.data(), half.size(),
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
  // A match reaching before the start of the cluster: a fixed-Huffman
  // block (BFINAL 1, BTYPE 01) whose first symbol is length code 257
  // (0000001) with distance code 0 (00000), distance 1 with no output yet.
  std::vector<uint8_t> far = {0x03, 0x02, 0x00, 0x00};
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kDeflate, far.data(), far.size(),
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
}

#ifdef HAVE_ZSTD
TEST(ClusterCompressorTest, ZstdRoundTripsAndIsDeterministic) {
  ASSERT_TRUE(qcow2::ZstdAvailable());
  const uint32_t bits = 16;
  const size_t cs = size_t{1} << bits;
  const size_t n = 12;
  auto in = MixedClusters(n, cs, 31);
  ASSERT_OK_AND_ASSIGN(
      auto c, qcow2::ClusterCompressor::Create(Algo::kZstd, 3, 2, bits));
  EXPECT_EQ(c->algorithm(), Algo::kZstd);
  std::vector<std::vector<uint8_t>> out;
  ASSERT_OK(c->CompressBatch(in.data(), n, &out));
  ASSERT_EQ(out.size(), n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 4 == 2) {
      EXPECT_TRUE(out[i].empty()) << i;
      continue;
    }
    ASSERT_FALSE(out[i].empty()) << i;
    // An independent reader: one frame of exactly one cluster.
    std::vector<uint8_t> back(cs);
    EXPECT_EQ(ZSTD_decompress(back.data(), cs, out[i].data(), out[i].size()),
              cs);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), &in[i * cs]));
    // Ours, with sector padding after the frame.
    auto padded = out[i];
    padded.resize(padded.size() + 200, 0);
    std::fill(back.begin(), back.end(), 0);
    EXPECT_OK(qcow2::DecompressCluster(Algo::kZstd, padded.data(),
                                       padded.size(), back.data(), cs));
    EXPECT_TRUE(std::equal(back.begin(), back.end(), &in[i * cs]));
  }
  ExpectSameAcrossThreads(Algo::kZstd);
}

// zstd takes its own levels, 1 to 19 (--compress=zstd:LEVEL), deflate 1 to 9.
TEST(ClusterCompressorTest, ZstdTakesLevelsUpTo19) {
  const size_t cs = size_t{1} << 16;
  auto in = MixedClusters(4, cs, 7);
  for (int level : {1, 10, 19}) {
    ASSERT_OK_AND_ASSIGN(
        auto c, qcow2::ClusterCompressor::Create(Algo::kZstd, level, 1, 16));
    std::vector<std::vector<uint8_t>> out;
    ASSERT_OK(c->CompressBatch(in.data(), 4, &out));
    ASSERT_FALSE(out[0].empty()) << level;
    std::vector<uint8_t> back(cs);
    EXPECT_EQ(ZSTD_decompress(back.data(), cs, out[0].data(), out[0].size()),
              cs);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), &in[0]));
  }
  auto r = qcow2::ClusterCompressor::Create(Algo::kZstd, 20, 1, 16);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("must be 1 to 19"), std::string::npos);
  EXPECT_EQ(qcow2::ClusterCompressor::Create(Algo::kDeflate, 10, 1, 16)
                    .status()
                    .message()
                    .find("must be 1 to 9") != std::string::npos,
            true);
}

TEST(ClusterCompressorTest, CorruptZstdIsCorruption) {
  const size_t cs = 4096;
  std::vector<uint8_t> back(cs);
  auto data = TextBytes(cs, 41);
  std::vector<uint8_t> z(ZSTD_compressBound(cs));
  z.resize(ZSTD_compress(z.data(), z.size(), data.data(), cs, 3));
  std::vector<uint8_t> junk(100, 0x5a);
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kZstd, junk.data(), junk.size(),
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kZstd, z.data(), z.size() - 3,
                                     back.data(), cs)
                .code(),
            Code::kCorruption);
  // The frame holds more than the cluster.
  EXPECT_EQ(qcow2::DecompressCluster(Algo::kZstd, z.data(), z.size(),
                                     back.data(), cs / 2)
                .code(),
            Code::kCorruption);
  ASSERT_OK(qcow2::DecompressCluster(Algo::kZstd, z.data(), z.size(),
                                     back.data(), cs));
  EXPECT_EQ(back, data);
}
#else
TEST(ClusterCompressorTest, ZstdNotSupportedInThisBuild) {
  EXPECT_FALSE(qcow2::ZstdAvailable());
  EXPECT_EQ(
      qcow2::ClusterCompressor::Create(Algo::kZstd, 3, 1, 16).status().code(),
      Code::kNotSupported);
  uint8_t in[16] = {}, out[512];
  EXPECT_EQ(
      qcow2::DecompressCluster(Algo::kZstd, in, sizeof in, out, sizeof out)
          .code(),
      Code::kNotSupported);
}
#endif  // HAVE_ZSTD

}  // namespace
}  // namespace e2q
