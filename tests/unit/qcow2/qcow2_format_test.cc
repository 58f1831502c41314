// Tests for lib/qcow2/qcow2_format: the geometry rule and the header codec.
#include "lib/qcow2/qcow2_format.h"

#include <gtest/gtest.h>

#include <vector>

namespace e2q::qcow2 {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

TEST(Qcow2Geometry, L1EntriesRoundUp) {
  // 64 KiB clusters: one L2 table maps 8192 * 64 KiB = 512 MiB.
  EXPECT_EQ(L1Entries(0, 16), 0u);
  EXPECT_EQ(L1Entries(1, 16), 1u);
  EXPECT_EQ(L1Entries(uint64_t{512} << 20, 16), 1u);
  EXPECT_EQ(L1Entries((uint64_t{512} << 20) + 512, 16), 2u);
  // 512 B clusters: 64 entries of 512 B = 32 KiB per L2 table.
  EXPECT_EQ(L1Entries(uint64_t{1} << 20, 9), 32u);
}

TEST(Qcow2Geometry, L1LimitIsQemus32MiB) {
  EXPECT_TRUE(L1EntriesFit(kMaxL1Bytes / 8));
  EXPECT_FALSE(L1EntriesFit(kMaxL1Bytes / 8 + 1));
  // 4 KiB clusters map 2 MiB per L2 table: 4M entries (32 MiB) = 8 TiB,
  // the size at which e2image's fixed cluster size stops working.
  EXPECT_TRUE(L1Fits(8 * kTiB, 12));
  EXPECT_FALSE(L1Fits(8 * kTiB + 512, 12));
}

TEST(Qcow2Geometry, ChooseClusterBitsRaisesUntilTheL1Fits) {
  EXPECT_EQ(ChooseClusterBits(1 << 30, 12, std::nullopt).value(), 12u);
  // 16 TiB with 4 KiB blocks: 8 KiB clusters (16 MiB of L1).
  EXPECT_EQ(ChooseClusterBits(16 * kTiB, 12, std::nullopt).value(), 13u);
  // 1 PiB needs 64 KiB clusters; never more than 2 MiB, even where that
  // does not suffice (the writer then refuses the size).
  EXPECT_EQ(ChooseClusterBits(uint64_t{1} << 50, 12, std::nullopt).value(),
            16u);
  EXPECT_EQ(ChooseClusterBits(uint64_t{1} << 62, 12, std::nullopt).value(),
            kMaxClusterBits);
  // The preferred size is used as is down to the 512 B minimum.
  EXPECT_EQ(ChooseClusterBits(1 << 20, 10, std::nullopt).value(), 10u);
  EXPECT_EQ(ChooseClusterBits(1 << 20, 3, std::nullopt).value(),
            kMinClusterBits);
}

TEST(Qcow2Geometry, RequestedClusterSizeWinsOrFails) {
  EXPECT_EQ(ChooseClusterBits(1 << 30, 12, 21u).value(), 21u);
  auto r = ChooseClusterBits(16 * kTiB, 16, 12u);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("too small for a 17592186044416-byte"),
            std::string::npos)
      << r.status().message();
}

TEST(Qcow2Header, EncodeDecodeRoundTrip) {
  Header h;
  h.version = 3;
  h.cluster_bits = 16;
  h.size = uint64_t{1} << 30;
  h.l1_size = static_cast<uint32_t>(L1Entries(h.size, h.cluster_bits));
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  h.backing_file = "base.qcow2";
  std::vector<uint8_t> c0;
  ASSERT_TRUE(h.EncodeTo(&c0).ok());
  auto d = Header::DecodeFrom("t.qcow2", c0.data(), c0.size());
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->size, h.size);
  EXPECT_EQ(d->l1_size, 2u);
  EXPECT_EQ(d->l1_table_offset, h.l1_table_offset);
  EXPECT_EQ(d->backing_file_size, h.backing_file.size());
}

TEST(Qcow2Header, RefusesAnL1TableThatDoesNotCoverTheDisk) {
  Header h;
  h.size = uint64_t{1} << 30;
  h.l1_size = 1;  // covers 512 MiB only
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  std::vector<uint8_t> c0;
  ASSERT_TRUE(h.EncodeTo(&c0).ok());
  auto d = Header::DecodeFrom("t.qcow2", c0.data(), c0.size());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("L1 table too small"), std::string::npos)
      << d.status().message();
}

}  // namespace
}  // namespace e2q::qcow2
