// Tests for lib/content_digest, lib/digest_sink and lib/image_digest: the
// digest follows its written definition (recomputed here with XXH3
// directly), does not depend on how the content is split into writes, on
// the cluster size, on compression or on the number of threads, and
// changes with any byte.
#include "lib/image/content_digest.h"

#include <xxhash.h>

#include <random>

#include "lib/base/endian.h"
#include "lib/base/is_zero.h"
#include "lib/image/digest_sink.h"
#include "lib/image/image_digest.h"
#include "lib/image/image_sink.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/cluster_dedup.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

constexpr size_t kChunk = image::kDigestChunkSize;

// A disk of `size` bytes: zero chunks, full chunks, chunks with a few
// non-zero bytes, and a last partial chunk.
std::vector<uint8_t> Disk(size_t size, uint32_t seed) {
  std::vector<uint8_t> d(size, 0);
  std::mt19937 rng(seed);
  for (size_t c = 0; c * kChunk < size; ++c) {
    size_t start = c * kChunk, end = std::min(size, start + kChunk);
    switch (rng() % 4) {
      case 0: break;  // zero
      case 1:
        for (size_t i = start; i < end; ++i) d[i] = static_cast<uint8_t>(rng());
        break;
      case 2:
        d[start + rng() % (end - start)] = 1;
        break;
      default:
        for (size_t i = start; i < end; i += 3) d[i] = static_cast<uint8_t>(i);
    }
  }
  return d;
}

// The definition in content_digest.h, written out independently.
image::Digest128 Reference(const std::vector<uint8_t>& disk) {
  std::vector<uint8_t> stream = {'E', '2', 'Q', 'D', 0, 0, 0, 1};
  uint8_t b[8];
  StoreBE64(b, disk.size());
  stream.insert(stream.end(), b, b + 8);
  StoreBE32(b, kChunk);
  stream.insert(stream.end(), b, b + 4);
  for (size_t c = 0; c * kChunk < disk.size(); ++c) {
    std::vector<uint8_t> chunk(kChunk, 0);
    size_t n = std::min(kChunk, disk.size() - c * kChunk);
    std::copy(disk.begin() + c * kChunk, disk.begin() + c * kChunk + n,
              chunk.begin());
    if (std::all_of(chunk.begin(), chunk.end(), [](uint8_t x) { return x == 0; })) {
      continue;
    }
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits(chunk.data(), kChunk));
    StoreBE64(b, c);
    stream.insert(stream.end(), b, b + 8);
    stream.insert(stream.end(), h.digest, h.digest + 16);
  }
  XXH128_canonical_t d;
  XXH128_canonicalFromHash(&d, XXH3_128bits(stream.data(), stream.size()));
  image::Digest128 out;
  std::copy(d.digest, d.digest + 16, out.begin());
  return out;
}

// Writes `disk` through a DigestSink in pieces split at random points, with
// the all-zero stretches sometimes skipped, and returns the digest.
image::Digest128 ThroughSink(const std::vector<uint8_t>& disk, uint32_t seed,
                             unsigned threads, size_t max_piece) {
  io::MemFile raw;
  auto inner = image::NewRawSink(&raw, disk.size(), true);
  image::Digest128 got{};
  auto sink = image::NewDigestSink(inner.get(), disk.size(), threads,
                                   [&](const image::Digest128& d) {
                                     got = d;
                                     return Status::OK();
                                   });
  EXPECT_TRUE(sink.ok());
  std::mt19937 rng(seed);
  size_t pos = 0;
  while (pos < disk.size()) {
    size_t n = std::min(disk.size() - pos, 1 + rng() % max_piece);
    if (rng() % 3 == 0 && IsZero(&disk[pos], n)) {
      pos += n;
      continue;
    }
    EXPECT_OK((*sink)->Write(pos, &disk[pos], n));
    pos += n;
  }
  EXPECT_OK((*sink)->Finish());
  EXPECT_EQ(raw.data(), disk);
  return got;
}

// Writes `disk` as a qcow2 image (digest recorded by the sink) and returns
// the digest recomputed through Qcow2Reader.
image::Digest128 ThroughQcow2(const std::vector<uint8_t>& disk, uint32_t bits,
                              bool compress) {
  io::MemFile f("img");
  qcow2::WriterOptions o;
  o.cluster_bits = bits;
  o.virtual_size = disk.size();
  auto w = qcow2::Qcow2Writer::Create(&f, o);
  EXPECT_TRUE(w.ok());
  std::unique_ptr<qcow2::ClusterCompressor> comp;
  if (compress) {
    auto c = qcow2::ClusterCompressor::Create(
        qcow2::ClusterCompressor::Algorithm::kDeflate, 6, 2, bits);
    EXPECT_TRUE(c.ok());
    comp = std::move(c).value();
  }
  auto q = image::NewQcow2Sink(w->get(), comp.get());
  image::Digest128 recorded{};
  auto sink = image::NewDigestSink(q.get(), disk.size(), 1,
                                   [&](const image::Digest128& d) {
                                     recorded = d;
                                     return Status::OK();
                                   });
  EXPECT_TRUE(sink.ok());
  EXPECT_OK((*sink)->Write(0, disk.data(), disk.size()));
  EXPECT_OK((*sink)->Finish());
  auto r =
      qcow2::Qcow2Reader::Open(std::make_unique<io::MemFile>("img", f.data()));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  for (unsigned t : {0u, 3u}) {
    auto d = image::ComputeImageDigest(r->get(), t);
    EXPECT_TRUE(d.ok());
    EXPECT_EQ(*d, recorded) << "bits " << bits << " threads " << t;
  }
  return recorded;
}

TEST(ContentDigestTest, MatchesDefinitionWhateverTheWrites) {
  // 3 MiB + 4 KiB: a partial last chunk.
  std::vector<uint8_t> disk = Disk((3 << 20) + 4096, 1);
  const image::Digest128 want = Reference(disk);
  EXPECT_EQ(ThroughSink(disk, 1, 0, 1 << 20), want);
  EXPECT_EQ(ThroughSink(disk, 2, 1, 700 << 10), want);
  EXPECT_EQ(ThroughSink(disk, 3, 3, 5000), want);
  EXPECT_EQ(ThroughSink(disk, 4, 1, 4 << 20), want);
}

TEST(ContentDigestTest, LoneBlocksInChunksOfTheirOwn) {
  // What a metadata export writes: a few 4 KiB blocks per 64 KiB chunk,
  // some of them zero, the rest of the chunk never written.
  std::vector<uint8_t> disk(2 << 20, 0);
  std::mt19937 rng(7);
  std::vector<size_t> blocks;
  for (size_t b = 0; b < disk.size() / 4096; ++b) {
    if (rng() % 4 != 0) continue;
    blocks.push_back(b);
    if (rng() % 5 == 0) continue;  // written, but zero
    for (size_t i = 0; i < 4096; i += 1 + rng() % 512) {
      disk[b * 4096 + i] = static_cast<uint8_t>(1 + rng() % 255);
    }
  }
  io::MemFile raw;
  auto inner = image::NewRawSink(&raw, disk.size(), true);
  image::Digest128 got{};
  auto sink = image::NewDigestSink(inner.get(), disk.size(), 1,
                                   [&](const image::Digest128& d) {
                                     got = d;
                                     return Status::OK();
                                   });
  ASSERT_TRUE(sink.ok());
  for (size_t b : blocks) {
    ASSERT_OK((*sink)->Write(b * 4096, &disk[b * 4096], 4096));
  }
  ASSERT_OK((*sink)->Finish());
  EXPECT_EQ(got, Reference(disk));
}

TEST(ContentDigestTest, IndependentOfClusterSizeAndCompression) {
  std::vector<uint8_t> disk = Disk(4 << 20, 2);
  const image::Digest128 want = Reference(disk);
  for (uint32_t bits : {9u, 12u, 16u, 21u}) {
    EXPECT_EQ(ThroughQcow2(disk, bits, false), want) << bits;
  }
  EXPECT_EQ(ThroughQcow2(disk, 16, true), want);
  EXPECT_EQ(ThroughQcow2(disk, 12, true), want);
}

TEST(ContentDigestTest, ZerosAndSizeCount) {
  std::vector<uint8_t> a(1 << 20, 0), b(2 << 20, 0);
  // Empty disks of different sizes differ; neither hashes any chunk.
  EXPECT_NE(Reference(a), Reference(b));
  EXPECT_EQ(ThroughSink(a, 5, 1, 100000), Reference(a));
  // Any single changed byte changes the digest.
  std::vector<uint8_t> disk = Disk(1 << 20, 3);
  const image::Digest128 base = Reference(disk);
  for (size_t at : {size_t{0}, size_t{65535}, size_t{65536}, disk.size() - 1}) {
    auto v = disk;
    v[at] ^= 0x40;
    EXPECT_NE(Reference(v), base) << at;
    EXPECT_EQ(ThroughSink(v, 6, 1, 100000), Reference(v)) << at;
  }
  EXPECT_EQ(image::DigestHex(image::Digest128{0x01, 0xab}),
            "01ab0000000000000000000000000000");
}

// The digest's chunk hash carries the hash a writer sharing 64 KiB
// clusters looks equal clusters up by (ImageSink::KnowChunks).
TEST(ContentDigestTest, ChunkHashCarriesTheClusterDedupHash) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const auto chunk = RandomBytes(image::kDigestChunkSize, seed);
    EXPECT_EQ(image::DedupHashOf(image::HashNonZeroChunk(chunk.data())),
              qcow2::ClusterDedup::Hash(chunk.data(), chunk.size()))
        << seed;
  }
}

// A guest of `clusters` 64 KiB clusters: zeros, three contents repeated,
// and unique ones, some with a zero 4 KiB block.
std::vector<uint8_t> RepeatingDisk(uint64_t clusters) {
  std::vector<uint8_t> disk(clusters * image::kDigestChunkSize, 0);
  for (uint64_t i = 0; i < clusters; ++i) {
    if (i % 5 == 0) continue;
    const uint32_t seed =
        i % 3 == 0 ? 7 + static_cast<uint32_t>(i % 4) : 100 + i;
    const auto c = RandomBytes(image::kDigestChunkSize, seed);
    std::copy(c.begin(), c.end(), disk.begin() + i * image::kDigestChunkSize);
    // A zero 4 KiB cluster in a non-zero chunk, now and then.
    if (i % 7 == 3) {
      std::fill_n(disk.begin() + i * image::kDigestChunkSize + 4096, 4096, 0);
    }
  }
  return disk;
}

// A sharing qcow2 file of `disk` with `bits` clusters, written through a
// DigestSink (which tells the qcow2 sink which chunks are zero and their
// hashes) or straight into the qcow2 sink (which looks at the bytes).
std::vector<uint8_t> SharedQcow2(const std::vector<uint8_t>& disk,
                                 uint32_t bits, bool digest, size_t piece) {
  io::MemFile f("img");
  qcow2::WriterOptions o;
  o.cluster_bits = bits;
  o.virtual_size = disk.size();
  o.share_identical = true;
  o.snapshot_date_sec = 1700000000;
  auto w = qcow2::Qcow2Writer::Create(&f, o);
  EXPECT_TRUE(w.ok());
  if (!w.ok()) return {};
  auto q = image::NewQcow2Sink(w->get(), nullptr);
  image::ImageSink* sink = q.get();
  std::unique_ptr<image::ImageSink> d;
  if (digest) {
    auto r = image::NewDigestSink(
        q.get(), disk.size(), 2,
        [](const image::Digest128&) { return Status::OK(); });
    EXPECT_TRUE(r.ok());
    d = std::move(r).value();
    sink = d.get();
  }
  for (size_t pos = 0; pos < disk.size(); pos += piece) {
    EXPECT_OK(sink->Write(pos, &disk[pos], std::min(piece, disk.size() - pos)));
  }
  EXPECT_OK(sink->Finish());
  return f.data();
}

TEST(ContentDigestTest, WhatTheDigestTellsTheQcow2SinkChangesNoByte) {
  const auto disk = RepeatingDisk(64);
  for (uint32_t bits : {12u, 16u}) {
    // Pieces of 1, 3 and 9 chunks: hashed on the calling thread, and on
    // the helpers.
    for (size_t chunks : {1u, 3u, 9u}) {
      const size_t piece = chunks * image::kDigestChunkSize;
      const auto told = SharedQcow2(disk, bits, true, piece);
      const auto looked = SharedQcow2(disk, bits, false, piece);
      EXPECT_EQ(told, looked) << "bits " << bits << " chunks " << chunks;
      auto r =
          qcow2::Qcow2Reader::Open(std::make_unique<io::MemFile>("t", told));
      ASSERT_OK(r.status());
      std::vector<uint8_t> back(disk.size());
      ASSERT_OK((*r)->Read(0, back.data(), back.size()));
      EXPECT_EQ(back, disk) << "bits " << bits << " chunks " << chunks;
    }
  }
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(SharedQcow2(disk, 16, true, 9 << 16)), 0);
  }
}

// The qcow2 sink trusts what it is told of zeros, but the writer never
// shares on a hash alone: a wrong hash costs sharing, not content.
TEST(ContentDigestTest, WrongHashesAreNeverShared) {
  const auto disk = RepeatingDisk(16);
  io::MemFile f("img");
  qcow2::WriterOptions o;
  o.cluster_bits = 16;
  o.virtual_size = disk.size();
  o.share_identical = true;
  o.snapshot_date_sec = 1700000000;
  auto w = qcow2::Qcow2Writer::Create(&f, o);
  ASSERT_OK(w.status());
  auto q = image::NewQcow2Sink(w->get(), nullptr);
  // Every non-zero chunk gets the same hash, and chunk 1 is said to be
  // zero.
  std::vector<image::ChunkHasher::Slot> slots(16);
  for (size_t k = 0; k < 16; ++k) {
    slots[k].nonzero = k % 5 != 0 && k != 1;
    slots[k].hash = image::HashNonZeroChunk(&disk[2 * image::kDigestChunkSize]);
  }
  q->KnowChunks(0, slots.data(), slots.size());
  ASSERT_OK(q->Write(0, disk.data(), disk.size()));
  ASSERT_OK(q->Finish());
  auto r =
      qcow2::Qcow2Reader::Open(std::make_unique<io::MemFile>("t", f.data()));
  ASSERT_OK(r.status());
  std::vector<uint8_t> back(disk.size());
  ASSERT_OK((*r)->Read(0, back.data(), back.size()));
  auto expected = disk;
  std::fill(expected.begin() + image::kDigestChunkSize,
            expected.begin() + 2 * image::kDigestChunkSize, 0);
  EXPECT_EQ(back, expected);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(f.data()), 0);
  }
}

}  // namespace
}  // namespace e2q
