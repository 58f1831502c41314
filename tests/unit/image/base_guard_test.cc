// Tests for lib/image/base_guard: the record round-trips and rejects what
// is malformed; the replaced digest depends on every index and byte and
// counts a missing cluster as zeros.
#include "lib/image/base_guard.h"

#include "tests/unit/test_util.h"

namespace e2q::image {
namespace {

TEST(BaseGuardTest, RoundTripsAndRejectsMalformedRecords) {
  BaseGuard g;
  g.cluster_bits = 16;
  g.clusters = 12345678901ull;
  g.replaced[0] = 0xab;
  g.superblock[15] = 0xcd;
  g.mnt_count = 7;
  g.mtime = 1700000000;
  g.wtime = 1700000100;
  g.free_blocks = 4000000000u;
  g.free_inodes = 99;
  std::vector<uint8_t> data = g.Encode();
  ASSERT_EQ(data.size(), BaseGuard::kSize);
  ASSERT_OK_AND_ASSIGN(BaseGuard back,
                       BaseGuard::Decode("x", data.data(), data.size()));
  EXPECT_EQ(back.cluster_bits, 16u);
  EXPECT_EQ(back.clusters, g.clusters);
  EXPECT_EQ(back.replaced, g.replaced);
  EXPECT_EQ(back.superblock, g.superblock);
  EXPECT_EQ(back.mnt_count, 7);
  EXPECT_EQ(back.mtime, g.mtime);
  EXPECT_EQ(back.wtime, g.wtime);
  EXPECT_EQ(back.free_blocks, g.free_blocks);
  EXPECT_EQ(back.free_inodes, g.free_inodes);

  EXPECT_EQ(BaseGuard::Decode("x", data.data(), 71).status().code(),
            Code::kCorruption);
  auto bad = data;
  bad[0] ^= 1;
  EXPECT_EQ(BaseGuard::Decode("x", bad.data(), bad.size()).status().message(),
            "x: base guard record: bad magic");
  bad = data;
  bad[5] = 2;  // version 2
  EXPECT_EQ(BaseGuard::Decode("x", bad.data(), bad.size()).status().code(),
            Code::kNotSupported);
  bad = data;
  bad[11] = 30;  // cluster bits
  EXPECT_EQ(BaseGuard::Decode("x", bad.data(), bad.size()).status().code(),
            Code::kCorruption);
}

TEST(BaseGuardTest, ReplacedDigestSeesIndexAndContent) {
  std::vector<uint8_t> a(512, 1), zeros(512, 0);
  auto digest = [&](uint64_t i, const uint8_t* p) {
    ReplacedDigest d(9);
    d.Add(i, p);
    EXPECT_EQ(d.clusters(), 1u);
    return d.Final();
  };
  EXPECT_EQ(digest(3, a.data()), digest(3, a.data()));
  EXPECT_NE(digest(3, a.data()), digest(4, a.data()));
  auto b = a;
  b[511] = 2;
  EXPECT_NE(digest(3, a.data()), digest(3, b.data()));
  EXPECT_EQ(digest(3, nullptr), digest(3, zeros.data()));
  ReplacedDigest empty(9), other_bits(10);
  EXPECT_NE(empty.Final(), other_bits.Final());
}

}  // namespace
}  // namespace e2q::image
