// Tests for lib/qcow2_header_info: ReadHeader (DecodeAny: every feature
// accepted) and DescribeHeader (feature bits, data file and crypto header
// extensions), against Header::DecodeFrom, which still refuses them.
#include "lib/qcow2/qcow2_header_info.h"

#include "lib/base/endian.h"
#include "tests/unit/qcow2/qcow2_test_image.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

HeaderExtension Ext(uint32_t type, const std::string& data) {
  return HeaderExtension{type, std::vector<uint8_t>(data.begin(), data.end())};
}

HeaderExtension CryptoExt(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> d(16);
  StoreBE64(d.data(), offset);
  StoreBE64(d.data() + 8, length);
  return HeaderExtension{kExtCrypto, d};
}

Result<HeaderInfo> Describe(TestImage* t) {
  std::unique_ptr<io::File> f = t->BuildFile("x.qcow2");
  E2Q_ASSIGN_OR_RETURN(Header h, ReadHeader(f.get()));
  return DescribeHeader("x.qcow2", h);
}

TEST(Qcow2HeaderInfoTest, PlainVersion3) {
  TestImage t(16, 1 << 20);
  auto info = Describe(&t);
  ASSERT_OK(info.status());
  EXPECT_EQ(info->compat, "1.1");
  EXPECT_EQ(info->compression_type, "zlib");
  EXPECT_EQ(info->refcount_bits, 16u);
  EXPECT_FALSE(info->dirty);
  EXPECT_FALSE(info->corrupt);
  EXPECT_FALSE(info->lazy_refcounts);
  EXPECT_FALSE(info->extended_l2);
  EXPECT_FALSE(info->has_data_file);
  EXPECT_EQ(info->encryption, "");
}

TEST(Qcow2HeaderInfoTest, FeatureBitsAndVersion2) {
  TestImage t(16, 1 << 20);
  t.header().incompatible_features = kIncompatDirty | kIncompatCorrupt;
  t.header().compatible_features = kCompatLazyRefcounts;
  t.header().refcount_order = 6;
  t.header().compression_type = kCompressionZstd;
  auto info = Describe(&t);
  ASSERT_OK(info.status());
  EXPECT_TRUE(info->dirty);
  EXPECT_TRUE(info->corrupt);
  EXPECT_TRUE(info->lazy_refcounts);
  EXPECT_EQ(info->refcount_bits, 64u);
  EXPECT_EQ(info->compression_type, "zstd");

  TestImage v2(16, 1 << 20, 2);
  info = Describe(&v2);
  ASSERT_OK(info.status());
  EXPECT_EQ(info->compat, "0.10");
  EXPECT_EQ(info->compression_type, "zlib");  // as qemu-img info says
  EXPECT_EQ(info->refcount_bits, 16u);
}

TEST(Qcow2HeaderInfoTest, ExternalDataFile) {
  for (bool raw : {false, true}) {
    TestImage t(16, 1 << 20);
    t.header().incompatible_features = kIncompatDataFile;
    if (raw) t.header().autoclear_features = kAutoclearDataFileRaw;
    t.header().extensions.push_back(Ext(kExtDataFile, "sub/d.raw"));
    auto info = Describe(&t);
    ASSERT_OK(info.status());
    EXPECT_TRUE(info->has_data_file);
    EXPECT_EQ(info->data_file, "sub/d.raw");
    EXPECT_EQ(info->data_file_raw, raw);
    // The restricted decoder still refuses it, for callers that cannot
    // read such images.
    std::vector<uint8_t> img = t.Build();
    Result<Header> h = Header::DecodeFrom("x.qcow2", img.data(), img.size());
    EXPECT_EQ(h.status().code(), Code::kNotSupported);
    EXPECT_EQ(h.status().message(),
              "x.qcow2: qcow2 header: external data files are not supported");
  }
}

TEST(Qcow2HeaderInfoTest, DataFileBitWithoutName) {
  TestImage t(16, 1 << 20);
  t.header().incompatible_features = kIncompatDataFile;
  auto info = Describe(&t);
  ASSERT_OK(info.status());
  EXPECT_TRUE(info->has_data_file);
  EXPECT_EQ(info->data_file, "");
}

TEST(Qcow2HeaderInfoTest, DataFileNameIgnoredWithoutTheBit) {
  TestImage t(16, 1 << 20);
  t.header().extensions.push_back(Ext(kExtDataFile, "d.raw"));
  auto info = Describe(&t);
  ASSERT_OK(info.status());
  EXPECT_FALSE(info->has_data_file);
  EXPECT_EQ(info->data_file, "");
}

TEST(Qcow2HeaderInfoTest, DataFileNameWithNulRefused) {
  TestImage t(16, 1 << 20);
  t.header().incompatible_features = kIncompatDataFile;
  t.header().extensions.push_back(Ext(kExtDataFile, std::string("d\0x", 3)));
  auto info = Describe(&t);
  EXPECT_EQ(info.status().code(), Code::kCorruption);
  EXPECT_EQ(info.status().message(),
            "x.qcow2: qcow2 header: data file name contains a NUL byte");
}

TEST(Qcow2HeaderInfoTest, RawBitWithoutDataFileRefused) {
  TestImage t(16, 1 << 20);
  t.header().autoclear_features = kAutoclearDataFileRaw;
  auto info = Describe(&t);
  EXPECT_EQ(info.status().code(), Code::kCorruption);
  EXPECT_EQ(info.status().message(),
            "x.qcow2: qcow2 header: raw external data bit set without an "
            "external data file");
}

TEST(Qcow2HeaderInfoTest, Encryption) {
  TestImage aes(16, 1 << 20);
  aes.header().crypt_method = kCryptAes;
  auto info = Describe(&aes);
  ASSERT_OK(info.status());
  EXPECT_EQ(info->encryption, "aes");

  TestImage luks(16, 1 << 20);
  luks.header().crypt_method = kCryptLuks;
  luks.header().extensions.push_back(CryptoExt(0x50000, 0x200000));
  info = Describe(&luks);
  ASSERT_OK(info.status());
  EXPECT_EQ(info->encryption, "luks");
  EXPECT_EQ(info->crypto_header_offset, 0x50000u);
  EXPECT_EQ(info->crypto_header_length, 0x200000u);

  std::vector<uint8_t> img = luks.Build();
  Result<Header> h = Header::DecodeFrom("x.qcow2", img.data(), img.size());
  EXPECT_EQ(h.status().code(), Code::kNotSupported);
}

TEST(Qcow2HeaderInfoTest, BadCryptoHeaders) {
  struct Case {
    uint32_t method;
    std::vector<HeaderExtension> exts;
    const char* why;
  };
  const Case cases[] = {
      {kCryptLuks,
       {},
       "LUKS-encrypted image without a crypto header extension"},
      {kCryptLuks,
       {HeaderExtension{kExtCrypto, std::vector<uint8_t>(8)}},
       "crypto header extension of 8 bytes, not 16"},
      {kCryptAes,
       {CryptoExt(0x10000, 0x1000)},
       "crypto header extension on an image that is not LUKS-encrypted"},
  };
  for (const Case& c : cases) {
    TestImage t(16, 1 << 20);
    t.header().crypt_method = c.method;
    t.header().extensions = c.exts;
    auto info = Describe(&t);
    EXPECT_EQ(info.status().code(), Code::kCorruption) << c.why;
    EXPECT_EQ(info.status().message(),
              std::string("x.qcow2: qcow2 header: ") + c.why);
  }
  TestImage t(16, 1 << 20);
  t.header().crypt_method = 3;
  auto info = Describe(&t);
  EXPECT_EQ(info.status().code(), Code::kNotSupported);
  EXPECT_EQ(info.status().message(),
            "x.qcow2: qcow2 header: unknown encryption method 3");
}

}  // namespace
}  // namespace e2q::qcow2
