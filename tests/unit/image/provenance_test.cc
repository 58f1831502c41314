// Tests for lib/provenance: the record round-trips, every field is
// validated, and damaged records (truncated, any byte changed) decode to an
// error or a valid record, never a crash.
#include "lib/image/provenance.h"

#include "lib/base/endian.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

image::Provenance Sample() {
  image::Provenance p;
  p.kind = image::ImageKind::kIncremental;
  p.flags = image::Provenance::kFlagAllData | image::Provenance::kFlagLive;
  for (int i = 0; i < 16; ++i) p.fs_uuid[i] = static_cast<uint8_t>(0x10 + i);
  p.label = "rootfs";
  p.block_size = 4096;
  p.blocks_count = 262144;
  p.snapshot_ids = {7, 3};
  p.tool_version = "0.1.0";
  p.created = 1700000000;
  p.guest_size = 262144ull * 4096;
  for (int i = 0; i < 16; ++i) p.digest[i] = static_cast<uint8_t>(i * 7);
  p.base_digest[0] = 1;
  p.base_snapshot_ids = {3};
  return p;
}

TEST(ProvenanceTest, RoundTrips) {
  image::Provenance p = Sample();
  ASSERT_OK(p.Validate());
  std::vector<uint8_t> e = p.Encode();
  EXPECT_EQ(e.size(), 96u + 6 + 5 + 4 * 3);
  EXPECT_EQ(LoadBE32(e.data()), 0x45325150u);
  EXPECT_EQ(LoadBE16(e.data() + 6), e.size());
  ASSERT_OK_AND_ASSIGN(image::Provenance q,
                       image::Provenance::Decode("f", e.data(), e.size()));
  EXPECT_EQ(q.Encode(), e);
  EXPECT_EQ(q.label, "rootfs");
  EXPECT_EQ(q.snapshot_ids, (std::vector<uint32_t>{7, 3}));
  EXPECT_EQ(q.base_snapshot_ids, (std::vector<uint32_t>{3}));
  EXPECT_EQ(q.created, 1700000000);
  EXPECT_EQ(image::FormatUuid(q.fs_uuid),
            "10111213-1415-1617-1819-1a1b1c1d1e1f");
  // A time before 1970 survives as a signed number.
  p.created = -5;
  e = p.Encode();
  ASSERT_OK_AND_ASSIGN(q, image::Provenance::Decode("f", e.data(), e.size()));
  EXPECT_EQ(q.created, -5);
}

TEST(ProvenanceTest, ValidateRefusesEachBadField) {
  auto expect_bad = [](void (*mutate)(image::Provenance*), const char* what) {
    image::Provenance p = Sample();
    mutate(&p);
    EXPECT_FALSE(p.Validate().ok()) << what;
  };
  expect_bad(
      [](image::Provenance* p) { p->kind = static_cast<image::ImageKind>(0); },
      "kind 0");
  expect_bad(
      [](image::Provenance* p) { p->kind = static_cast<image::ImageKind>(8); },
      "kind 8");
  expect_bad([](image::Provenance* p) { p->digest_type = 2; }, "digest type");
  expect_bad([](image::Provenance* p) { p->flags |= 0x100; }, "flags");
  expect_bad([](image::Provenance* p) { p->block_size = 3000; }, "block size");
  expect_bad([](image::Provenance* p) { p->label = std::string(17, 'a'); },
             "label");
  expect_bad([](image::Provenance* p) { p->label = std::string("a\0b", 3); },
             "NUL");
  expect_bad([](image::Provenance* p) { p->tool_version = "1 2"; }, "version");
  expect_bad([](image::Provenance* p) { p->guest_size = 1000; }, "guest size");
  expect_bad([](image::Provenance* p) { p->base_digest = {}; },
             "no base digest");
  expect_bad([](image::Provenance* p) { p->snapshot_ids.assign(1025, 1); },
             "ids");
  expect_bad(
      [](image::Provenance* p) {
        p->kind = image::ImageKind::kFull;
        p->snapshot_ids.clear();
      },
      "base on a full export");
  expect_bad(
      [](image::Provenance* p) {
        p->kind = image::ImageKind::kMetadata;
        p->snapshot_ids.clear();
        p->base_digest = {};
        p->base_snapshot_ids.clear();
      },
      "metadata with all-data flag");
  expect_bad(
      [](image::Provenance* p) {
        p->kind = image::ImageKind::kSnapshot;
        p->base_digest = {};
        p->base_snapshot_ids.clear();
      },
      "snapshot export flagged live");
}

TEST(ProvenanceTest, DecodeRefusesDamage) {
  std::vector<uint8_t> e = Sample().Encode();
  auto decode = [](std::vector<uint8_t> v) {
    return image::Provenance::Decode("img", v.data(), v.size());
  };
  {
    auto v = e;
    v[0] ^= 1;
    EXPECT_EQ(decode(v).status().code(), Code::kCorruption);
  }
  {
    auto v = e;
    StoreBE16(v.data() + 4, 2);
    auto r = decode(v);
    EXPECT_EQ(r.status().code(), Code::kNotSupported);
    EXPECT_NE(r.status().message().find("version 2"), std::string::npos);
  }
  {
    auto v = e;
    v.push_back(0);  // extension longer than the record says
    EXPECT_FALSE(decode(v).ok());
  }
  {
    auto v = e;
    v[88] = 7;  // label length no longer adds up
    EXPECT_FALSE(decode(v).ok());
  }
  // Every truncation and every single-byte change: an error or a record
  // that validates, never a crash (ASan runs this too).
  for (size_t n = 0; n < e.size(); ++n) {
    auto v = std::vector<uint8_t>(e.begin(), e.begin() + n);
    EXPECT_FALSE(decode(v).ok()) << n;
  }
  for (size_t i = 0; i < e.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      auto v = e;
      v[i] ^= x;
      auto r = decode(v);
      if (r.ok()) EXPECT_OK(r->Validate());
    }
  }
}

TEST(ProvenanceTest, FindInHeader) {
  qcow2::Header h;
  ASSERT_OK_AND_ASSIGN(auto none, image::Provenance::Find("f", h));
  EXPECT_FALSE(none.has_value());
  h.extensions.push_back({0x12345678, {1, 2}});
  h.extensions.push_back({qcow2::kExtE2qProvenance, Sample().Encode()});
  ASSERT_OK_AND_ASSIGN(auto one, image::Provenance::Find("f", h));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->label, "rootfs");
  h.extensions.push_back({qcow2::kExtE2qProvenance, Sample().Encode()});
  EXPECT_FALSE(image::Provenance::Find("f", h).ok());
}

}  // namespace
}  // namespace e2q
