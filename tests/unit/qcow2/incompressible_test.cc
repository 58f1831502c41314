// Tests for lib/qcow2/incompressible: random clusters are recognised
// whatever their size, and no cluster that deflate shrinks by more than a
// little is: text, structured records whose one random field lines up with
// a power-of-two stride, a repeated stretch of random bytes, random bytes
// with a compressible stretch.  Each "no" is judged by libdeflate itself.
#include "lib/qcow2/incompressible.h"

#include <libdeflate.h>

#include <random>
#include <vector>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

using qcow2::LooksIncompressible;

// What libdeflate level 5 saves on `v`, as a share of its size.
double Saved(const std::vector<uint8_t>& v) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(5);
  std::vector<uint8_t> out(v.size());
  const size_t n =
      libdeflate_deflate_compress(c, v.data(), v.size(), out.data(), v.size());
  libdeflate_free_compressor(c);
  return n == 0 ? 0.0 : 1.0 - static_cast<double>(n) / v.size();
}

TEST(Incompressible, RandomClustersOfEverySizeFromSixtyFourKiB) {
  for (size_t cs = 64 << 10; cs <= (2u << 20); cs *= 2) {
    int yes = 0;
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      yes += LooksIncompressible(RandomBytes(cs, seed).data(), cs);
    }
    // 99% of random clusters on average; 18 of 20 leaves room for chance.
    EXPECT_GE(yes, 18) << cs;
  }
}

TEST(Incompressible, SmallClustersAreAlwaysCompressed) {
  for (size_t cs = 512; cs < (64 << 10); cs *= 2) {
    EXPECT_FALSE(LooksIncompressible(RandomBytes(cs, 7).data(), cs)) << cs;
  }
}

TEST(Incompressible, CompressibleClustersAreCompressed) {
  const size_t cs = 64 << 10;
  std::vector<std::vector<uint8_t>> cases;
  // Text.
  std::vector<uint8_t> text;
  std::mt19937 rng(3);
  while (text.size() < cs) {
    static const char kWords[][8] = {"inode ", "extent ", "block ", "group "};
    const char* w = kWords[rng() % 4];
    while (*w != '\0' && text.size() < cs) text.push_back(*w++);
  }
  cases.push_back(text);
  // 16-byte records: a random 32-bit key at offset 0 of each (what a stride
  // of 16 would sample alone), then a counter and constant padding.
  std::vector<uint8_t> records(cs, 0);
  for (size_t i = 0; i < cs / 16; ++i) {
    const uint32_t key = static_cast<uint32_t>(rng());
    for (int b = 0; b < 4; ++b) records[i * 16 + b] = key >> (8 * b);
    records[i * 16 + 4] = static_cast<uint8_t>(i);
    records[i * 16 + 5] = static_cast<uint8_t>(i >> 8);
  }
  cases.push_back(records);
  // 16 KiB of random bytes, four times: every sample is a different byte,
  // and deflate's 32 KiB window finds the copies.
  const std::vector<uint8_t> block = RandomBytes(16 << 10, 11);
  std::vector<uint8_t> repeated;
  for (int i = 0; i < 4; ++i) {
    repeated.insert(repeated.end(), block.begin(), block.end());
  }
  cases.push_back(repeated);
  // Random, but with a quarter of zeros.
  std::vector<uint8_t> mixed = RandomBytes(cs, 13);
  std::fill(mixed.begin(), mixed.begin() + cs / 4, 0);
  cases.push_back(mixed);
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(cases[i].size(), cs);
    ASSERT_GT(Saved(cases[i]), 0.05) << "case " << i;
    EXPECT_FALSE(LooksIncompressible(cases[i].data(), cs)) << "case " << i;
  }
}

TEST(Incompressible, ClustersThatDeflateCannotShrinkAreRecognised) {
  const size_t cs = 64 << 10;
  const std::vector<uint8_t> random = RandomBytes(cs, 17);
  ASSERT_EQ(Saved(random), 0.0);
  EXPECT_TRUE(LooksIncompressible(random.data(), cs));
}

}  // namespace
}  // namespace e2q
