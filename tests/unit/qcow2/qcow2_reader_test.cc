// Tests for lib/qcow2_reader (with lib/qcow2_l2_cache and
// lib/qcow2_decompress), on images built byte by byte by TestImage.
#include "lib/qcow2/qcow2_reader.h"

#include <map>

#include "config.h"
#include "lib/base/endian.h"
#include "lib/io/forwarding_file.h"
#include "tests/doubles/fault_file.h"
#include "tests/unit/qcow2/qcow2_test_image.h"
#include "tests/unit/test_util.h"
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

namespace e2q::qcow2 {
namespace {

using Kind = Qcow2Reader::ExtentKind;

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    // Compressible but not trivially so.
    v[i] = static_cast<uint8_t>((i / 7) % 5 == 0 ? x >> 24 : i & 0x3f);
  }
  return v;
}

std::vector<uint8_t> ReadAll(Qcow2Reader* r) {
  std::vector<uint8_t> out(r->virtual_size());
  Status s = r->Read(0, out.data(), out.size());
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

// A File wrapper that counts reads, to check that reads are coalesced.
class CountingFile : public io::ForwardingFile {
 public:
  // The base is initialised before f_, so f.get() is taken before the move.
  explicit CountingFile(std::unique_ptr<io::File> f)
      : io::ForwardingFile(f.get()), f_(std::move(f)) {}
  Result<size_t> ReadSome(uint64_t o, void* b, size_t n) override {
    ++reads;
    return io::ForwardingFile::ReadSome(o, b, n);
  }
  int reads = 0;

 private:
  std::unique_ptr<io::File> f_;  // owned: Qcow2Reader::Open takes a unique_ptr
};

TEST(Qcow2ReaderTest, IsQcow2ChecksMagic) {
  TestImage t(12, 1 << 20);
  auto f = t.BuildFile("a.qcow2");
  EXPECT_TRUE(Qcow2Reader::IsQcow2(f.get()).value());
  io::MemFile raw("raw", std::vector<uint8_t>(4096, 0));
  EXPECT_FALSE(Qcow2Reader::IsQcow2(&raw).value());
  io::MemFile tiny("tiny", {0x51, 0x46});
  EXPECT_FALSE(Qcow2Reader::IsQcow2(&tiny).value());
  // Short reads are looped over; a read error is an error, not "no".
  FaultFile shorty(f.get());
  shorty.set_max_read(1);
  EXPECT_TRUE(Qcow2Reader::IsQcow2(&shorty).value());
  FaultFile failing(f.get());
  failing.AddFault({FaultFile::Op::kRead, 0, EIO});
  EXPECT_EQ(Qcow2Reader::IsQcow2(&failing).status().code(), Code::kIOError);
}

TEST(Qcow2ReaderTest, ReadsNormalZeroAndUnallocatedClusters) {
  for (uint32_t cb : {9u, 12u, 16u}) {
    SCOPED_TRACE(cb);
    const uint64_t cs = uint64_t{1} << cb;
    TestImage t(cb, 64 * cs);
    std::vector<uint8_t> want(64 * cs, 0);
    auto put = [&](uint64_t gc, uint8_t fill) {
      t.AddData(gc, fill);
      std::fill_n(want.begin() + gc * cs, cs, fill);
    };
    put(0, 0x11);
    t.AddZero(1);
    t.AddZero(3, /*alloc=*/true);
    put(5, 0x22);
    put(6, 0x33);
    put(63, 0x44);
    ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("a.qcow2")));
    EXPECT_EQ(r->virtual_size(), 64 * cs);
    EXPECT_EQ(ReadAll(r.get()), want);
    // An unaligned read across kinds.
    std::vector<uint8_t> part(3 * cs);
    ASSERT_OK(r->Read(4 * cs + 100, part.data(), part.size()));
    EXPECT_TRUE(std::equal(part.begin(), part.end(), want.begin() + 4 * cs + 100));
  }
}

TEST(Qcow2ReaderTest, MapReportsDataAndZeroStretches) {
  const uint64_t cs = 4096;
  TestImage t(12, 1024 * cs);  // two L2 tables' worth (512 entries each)
  t.AddData(2, 1);
  t.AddData(3, 2);
  t.AddZero(4);
  t.AddData(600, 3);
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("a.qcow2")));
  ASSERT_OK_AND_ASSIGN(auto e, r->Map(0, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, 2 * cs);
  ASSERT_OK_AND_ASSIGN(e, r->Map(2 * cs + 5, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kData);
  EXPECT_EQ(e.len, 2 * cs - 5);
  // Zero cluster, unallocated entries and the rest of the L2 table merge.
  ASSERT_OK_AND_ASSIGN(e, r->Map(4 * cs, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, 596 * cs);
  ASSERT_OK_AND_ASSIGN(e, r->Map(601 * cs, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, 423 * cs);  // clamped to the virtual size
  ASSERT_OK_AND_ASSIGN(e, r->Map(2 * cs, 100));
  EXPECT_EQ(e.len, 100u);
  EXPECT_EQ(r->Map(1024 * cs, 1).status().code(), Code::kInvalidArgument);
}

TEST(Qcow2ReaderTest, CoalescesHostContiguousClusters) {
  const uint64_t cs = 512;
  TestImage t(9, 1 << 20);  // 64 entries per L2 table: runs cross tables
  // Allocate the data clusters first so they are contiguous on the host
  // even though their L2 tables come later.
  std::vector<uint8_t> want(1 << 20, 0);
  uint64_t base = t.Alloc(200);
  for (uint64_t gc = 0; gc < 200; ++gc) {
    std::fill_n(&t.bytes()[base + gc * cs], cs, static_cast<uint8_t>(gc));
    std::fill_n(&want[gc * cs], cs, static_cast<uint8_t>(gc));
  }
  for (uint64_t gc = 0; gc < 200; ++gc) t.SetEntry(gc, (base + gc * cs) | kOflagCopied);
  auto counting = std::make_unique<CountingFile>(t.BuildFile("a.qcow2"));
  CountingFile* cf = counting.get();
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(std::move(counting)));
  int before = cf->reads;
  std::vector<uint8_t> got(200 * cs);
  ASSERT_OK(r->Read(0, got.data(), got.size()));
  // One data read plus one per L2 table (4 tables).
  EXPECT_LE(cf->reads - before, 5);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin()));
}

TEST(Qcow2ReaderTest, ReadsCompressedClusters) {
  for (uint32_t cb : {9u, 12u, 16u}) {
    SCOPED_TRACE(cb);
    const uint64_t cs = uint64_t{1} << cb;
    TestImage t(cb, 8 * cs);
    auto a = Pattern(cs, 1), b = Pattern(cs, 2);
    t.AddCompressed(1, a, 100);  // unaligned start
    t.AddCompressed(2, b, 511);  // spans a sector boundary at once
    ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("c.qcow2")));
    std::vector<uint8_t> want(8 * cs, 0);
    std::copy(a.begin(), a.end(), want.begin() + cs);
    std::copy(b.begin(), b.end(), want.begin() + 2 * cs);
    EXPECT_EQ(ReadAll(r.get()), want);
    std::vector<uint8_t> part(cs / 2);
    ASSERT_OK(r->Read(cs + cs / 4, part.data(), part.size()));
    EXPECT_TRUE(std::equal(part.begin(), part.end(), a.begin() + cs / 4));
    ASSERT_OK_AND_ASSIGN(auto e, r->Map(cs, UINT64_MAX));
    EXPECT_EQ(e.kind, Kind::kData);
    EXPECT_EQ(e.len, 2 * cs);
  }
}

TEST(Qcow2ReaderTest, BatchesOfCompressedClustersOnSeveralThreads) {
  const uint64_t cs = 4096;
  const uint64_t n = 300;  // more than one batch
  TestImage t(12, n * cs);
  std::vector<uint8_t> want(n * cs, 0);
  // Packed back to back as qemu does: one host stretch.
  uint64_t pos = t.Alloc(n) + 17;
  for (uint64_t gc = 0; gc < n; ++gc) {
    if (gc % 7 == 3) continue;  // holes between them
    auto d = Pattern(cs, static_cast<uint32_t>(gc));
    std::copy(d.begin(), d.end(), want.begin() + gc * cs);
    auto z = TestImage::Deflate(d);
    std::copy(z.begin(), z.end(), t.bytes().begin() + pos);
    t.SetEntry(gc, CompressedLayout(12).Encode(pos, z.size()));
    pos += z.size();
  }
  auto bytes = t.Build();
  for (unsigned threads : {1u, 4u}) {
    Qcow2Reader::OpenOptions o;
    o.decompress_threads = threads;
    ASSERT_OK_AND_ASSIGN(
        auto r,
        Qcow2Reader::Open(std::make_unique<io::MemFile>("b.qcow2", bytes), o));
    EXPECT_EQ(ReadAll(r.get()), want);
    // Odd-sized pieces split clusters between calls.
    std::vector<uint8_t> got(n * cs);
    for (uint64_t at = 0; at < n * cs;) {
      size_t len = std::min<uint64_t>(n * cs - at, 5000);
      ASSERT_OK(r->Read(at, got.data() + at, len));
      at += len;
    }
    EXPECT_EQ(got, want);
  }
}

#ifdef HAVE_ZSTD
TEST(Qcow2ReaderTest, ReadsZstdCompressedClusters) {
  const uint64_t cs = 65536;
  TestImage t(16, 4 * cs);
  t.header().compression_type = kCompressionZstd;
  auto a = Pattern(cs, 3);
  std::vector<uint8_t> z(ZSTD_compressBound(cs));
  z.resize(ZSTD_compress(z.data(), z.size(), a.data(), a.size(), 3));
  uint64_t off = t.Alloc(2) + 8;
  std::copy(z.begin(), z.end(), t.bytes().begin() + off);
  t.SetEntry(3, CompressedLayout(16).Encode(off, z.size()));
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("z.qcow2")));
  std::vector<uint8_t> got(cs);
  ASSERT_OK(r->Read(3 * cs, got.data(), cs));
  EXPECT_EQ(got, a);
}
#endif

TEST(Qcow2ReaderTest, SelectsSnapshotsByIdThenName) {
  const uint64_t cs = 4096;
  TestImage t(12, 16 * cs);
  t.AddData(0, 0xa1);
  t.AddSnapshot("1", "first");
  t.AddData(0, 0xb2);
  t.AddData(9, 0xb3);
  t.AddSnapshot("2", "1");  // a name that is also another's ID
  t.AddData(0, 0xc4);
  auto bytes = t.Build();
  auto open = [&]() {
    return Qcow2Reader::Open(std::make_unique<io::MemFile>("s.qcow2", bytes))
        .value();
  };
  auto first_byte = [](Qcow2Reader* r, uint64_t at) {
    uint8_t b = 0xff;
    EXPECT_OK(r->Read(at, &b, 1));
    return b;
  };
  auto r = open();
  ASSERT_EQ(r->snapshots().size(), 2u);
  EXPECT_EQ(first_byte(r.get(), 0), 0xc4);
  ASSERT_OK(r->SelectSnapshot("1"));  // ID 1, not the snapshot named "1"
  EXPECT_EQ(first_byte(r.get(), 0), 0xa1);
  EXPECT_EQ(first_byte(r.get(), 9 * cs), 0);
  ASSERT_OK(r->SelectSnapshot("2"));
  EXPECT_EQ(first_byte(r.get(), 0), 0xb2);
  EXPECT_EQ(first_byte(r.get(), 9 * cs), 0xb3);
  ASSERT_OK(r->SelectSnapshot("first"));
  EXPECT_EQ(first_byte(r.get(), 0), 0xa1);
  Status s = r->SelectSnapshot("nope");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "s.qcow2: snapshot 'nope': no such snapshot");
}

// Opens backing files from an in-memory map, recording the paths asked.
struct FakeFs {
  std::map<std::string, std::vector<uint8_t>> files;
  std::vector<std::string> opened;
  Qcow2Reader::OpenOptions Options() {
    Qcow2Reader::OpenOptions o;
    o.open_file =
        [this](const std::string& p) -> Result<std::unique_ptr<io::File>> {
      opened.push_back(p);
      auto it = files.find(p);
      if (it == files.end()) {
        return Status::NotFound(p + ": open: No such file or directory");
      }
      return std::unique_ptr<io::File>(new io::MemFile(p, it->second));
    };
    return o;
  }
  Result<std::unique_ptr<Qcow2Reader>> Open(const std::string& p) {
    return Qcow2Reader::Open(std::make_unique<io::MemFile>(p, files.at(p)),
                             Options());
  }
};

void SetBacking(TestImage* t, const std::string& file, const std::string& fmt) {
  t->header().backing_file = file;
  if (!fmt.empty()) {
    t->header().extensions.push_back(
        HeaderExtension{kExtBackingFormat, std::vector<uint8_t>(fmt.begin(), fmt.end())});
  }
}

TEST(Qcow2ReaderTest, ReadsThroughBackingChain) {
  const uint64_t cs = 4096;
  FakeFs fs;
  // raw base, shorter than the images above it, not a sector multiple.
  std::vector<uint8_t> raw(3 * cs + 100, 0x5a);
  fs.files["dir/base.raw"] = raw;
  TestImage mid(12, 6 * cs);
  SetBacking(&mid, "base.raw", "raw");
  mid.AddData(1, 0x61);
  fs.files["dir/mid.qcow2"] = mid.Build();
  TestImage top(12, 8 * cs);
  SetBacking(&top, "mid.qcow2", "");  // format probed
  top.AddData(2, 0x72);
  top.AddZero(0);  // hides the base
  fs.files["dir/top.qcow2"] = top.Build();

  ASSERT_OK_AND_ASSIGN(auto r, fs.Open("dir/top.qcow2"));
  EXPECT_EQ(fs.opened, (std::vector<std::string>{"dir/mid.qcow2", "dir/base.raw"}));
  EXPECT_EQ(r->backing_format(), "qcow2");
  std::vector<uint8_t> want(8 * cs, 0);
  std::fill_n(want.begin() + 1 * cs, cs, 0x61);
  std::fill_n(want.begin() + 2 * cs, cs, 0x72);
  std::fill_n(want.begin() + 3 * cs, 100, 0x5a);
  EXPECT_EQ(ReadAll(r.get()), want);

  ASSERT_OK_AND_ASSIGN(auto e, r->Map(0, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, cs);
  ASSERT_OK_AND_ASSIGN(e, r->Map(cs, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kData);
  EXPECT_EQ(e.len, 2 * cs + 100);  // through the raw base's end
  ASSERT_OK_AND_ASSIGN(e, r->Map(3 * cs + 100, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, 5 * cs - 100);
}

TEST(Qcow2ReaderTest, AbsoluteBackingPathAndMissingBacking) {
  FakeFs fs;
  TestImage top(12, 4096);
  SetBacking(&top, "/abs/base.raw", "raw");
  fs.files["d/top.qcow2"] = top.Build();
  auto r = fs.Open("d/top.qcow2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(fs.opened, (std::vector<std::string>{"/abs/base.raw"}));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            "d/top.qcow2: backing file '/abs/base.raw': /abs/base.raw: open: "
            "No such file or directory");
}

TEST(Qcow2ReaderTest, RefusesBackingLoops) {
  FakeFs fs;
  TestImage self(12, 4096);
  SetBacking(&self, "self.qcow2", "qcow2");
  fs.files["self.qcow2"] = self.Build();
  auto r = fs.Open("self.qcow2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("loops"), std::string::npos);

  TestImage a(12, 4096), b(12, 4096);
  SetBacking(&a, "b", "");
  SetBacking(&b, "a", "");
  fs.files["a"] = a.Build();
  fs.files["b"] = b.Build();
  r = fs.Open("a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("loops back to a"), std::string::npos)
      << r.status().message();
}

TEST(Qcow2ReaderTest, LimitsChainDepth) {
  FakeFs fs;
  // Names that differ but form an endless chain.
  for (int i = 0; i < 100; ++i) {
    TestImage t(12, 4096);
    SetBacking(&t, "i" + std::to_string(i + 1), "qcow2");
    fs.files["i" + std::to_string(i)] = t.Build();
  }
  auto r = fs.Open("i0");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotSupported);
  EXPECT_NE(r.status().message().find("deeper than 64"), std::string::npos);
}

TEST(Qcow2ReaderTest, RefusesUnknownBackingFormatAndProtocols) {
  FakeFs fs;
  TestImage t(12, 4096);
  SetBacking(&t, "b.vmdk", "vmdk");
  fs.files["t"] = t.Build();
  EXPECT_EQ(fs.Open("t").status().code(), Code::kNotSupported);
  TestImage u(12, 4096);
  SetBacking(&u, "nbd://host/x", "");
  fs.files["u"] = u.Build();
  EXPECT_EQ(fs.Open("u").status().code(), Code::kNotSupported);
}

TEST(Qcow2ReaderTest, ReadsExtendedL2Subclusters) {
  const uint64_t cs = 16384, sc = cs / 32;
  FakeFs fs;
  fs.files["base"] = std::vector<uint8_t>(8 * cs, 0x5a);
  TestImage t(14, 8 * cs);
  t.header().incompatible_features |= kIncompatExtendedL2;
  SetBacking(&t, "base", "raw");
  const uint64_t l2 = t.Alloc();
  t.l1()[0] = l2;
  const uint64_t data = t.Alloc();
  std::fill_n(&t.bytes()[data], cs, 0x11);
  auto set = [&](uint64_t i, uint64_t e, uint64_t bitmap) {
    StoreBE64(&t.bytes()[l2 + 16 * i], e);
    StoreBE64(&t.bytes()[l2 + 16 * i + 8], bitmap);
  };
  // Cluster 0: subclusters 0-1 allocated, 2 zero, the rest from the base.
  set(0, data | kOflagCopied, 0x3 | (uint64_t{0x4} << 32));
  // Cluster 1: unallocated, all zero.
  set(1, 0, uint64_t{0xffffffff} << 32);
  fs.files["ext.qcow2"] = t.Build();
  ASSERT_OK_AND_ASSIGN(auto r, fs.Open("ext.qcow2"));
  std::vector<uint8_t> want(8 * cs, 0x5a);
  std::fill_n(want.begin(), 2 * sc, 0x11);
  std::fill_n(want.begin() + 2 * sc, sc, 0);
  std::fill_n(want.begin() + cs, cs, 0);
  EXPECT_EQ(ReadAll(r.get()), want);
  ASSERT_OK_AND_ASSIGN(auto e, r->Map(sc, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kData);
  EXPECT_EQ(e.len, sc);
  ASSERT_OK_AND_ASSIGN(e, r->Map(2 * sc, UINT64_MAX));
  EXPECT_EQ(e.kind, Kind::kZero);
  EXPECT_EQ(e.len, sc);

  // A subcluster both allocated and zero is refused.
  set(2, data, 0x1 | (uint64_t{0x1} << 32));
  fs.files["bad.qcow2"] = t.Build();
  ASSERT_OK_AND_ASSIGN(auto bad, fs.Open("bad.qcow2"));
  std::vector<uint8_t> buf(8 * cs);
  Status s = bad->Read(0, buf.data(), buf.size());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("both allocated and zero"), std::string::npos)
      << s.message();
}

// --- malformed images -----------------------------------------------------

void ExpectOpenCorrupt(std::vector<uint8_t> bytes, const std::string& what) {
  auto r = Qcow2Reader::Open(
      std::make_unique<io::MemFile>("bad.qcow2", std::move(bytes)));
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("bad.qcow2: ", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

// `map_too`: Map() must fail as well (it validates entries but does not
// decompress).
void ExpectReadCorrupt(std::vector<uint8_t> bytes, const std::string& what,
                       bool map_too = true) {
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(std::make_unique<io::MemFile>(
                                   "bad.qcow2", std::move(bytes))));
  std::vector<uint8_t> buf(r->virtual_size());
  Status s = r->Read(0, buf.data(), buf.size());
  ASSERT_FALSE(s.ok()) << what;
  EXPECT_EQ(s.code(), Code::kCorruption) << s.message();
  EXPECT_EQ(s.message().rfind("bad.qcow2: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  if (map_too) {
    EXPECT_FALSE(r->Map(0, UINT64_MAX).ok());
  }
}

TEST(Qcow2ReaderTest, RejectsZeroClusterInVersion2) {
  TestImage t(12, 8 * 4096, /*version=*/2);
  t.AddZero(1);
  ExpectReadCorrupt(t.Build(), "zero cluster in a version 2 image");
}

TEST(Qcow2ReaderTest, RejectsBadL1Entries) {
  TestImage t(12, 8 * 4096);
  t.AddData(0, 1);
  auto good = t.Build();
  const uint64_t l1 = t.header().l1_table_offset;
  auto bad = good;
  StoreBE64(&bad[l1], LoadBE64(&bad[l1]) | 2);
  ExpectOpenCorrupt(bad, "reserved bits set");
  bad = good;
  StoreBE64(&bad[l1], LoadBE64(&bad[l1]) | (uint64_t{1} << 60));
  ExpectOpenCorrupt(bad, "reserved bits set");
  bad = good;
  StoreBE64(&bad[l1], LoadBE64(&bad[l1]) + 512);
  ExpectOpenCorrupt(bad, "L2 table offset not aligned");
  bad = good;
  StoreBE64(&bad[l1], uint64_t{1} << 40);
  ExpectOpenCorrupt(bad, "L2 table past end of file");
}

TEST(Qcow2ReaderTest, RejectsBadL2Entries) {
  const uint64_t cs = 4096;
  TestImage t(12, 8 * cs);
  uint64_t data = t.AddData(0, 1);
  auto base = t.Build();
  auto with_entry = [&](uint64_t e) {
    TestImage u = t;
    u.SetEntry(1, e);
    return u.Build();
  };
  ExpectReadCorrupt(with_entry(data | 0x100), "reserved bits set");
  ExpectReadCorrupt(with_entry(data | (uint64_t{1} << 57)), "reserved bits set");
  ExpectReadCorrupt(with_entry(data + 512), "not aligned");
  ExpectReadCorrupt(with_entry(base.size() + cs), "data cluster past end of file");
  ExpectReadCorrupt(with_entry(uint64_t{1} << 55), "data cluster past end of file");
  CompressedLayout layout(12);
  ExpectReadCorrupt(with_entry(layout.Encode(base.size() + 10, 100)),
                    "compressed data outside the file");
  ExpectReadCorrupt(with_entry(layout.Encode(100, 100)),
                    "compressed data outside the file");  // in the header
  ExpectReadCorrupt(with_entry(layout.Encode(data, 100) | kOflagCopied),
                    "COPIED set on a compressed cluster");
  // Garbage where compressed data should be: cluster 0 holds 0x01 bytes.
  ExpectReadCorrupt(with_entry(layout.Encode(data, 100)), "decompression failed",
                    /*map_too=*/false);
}

TEST(Qcow2ReaderTest, RejectsCompressedDataFarPastEndOfFile) {
  const uint64_t cs = 4096;
  TestImage t(12, 8 * cs);
  t.AddData(0, 1);
  auto bytes = t.Build();
  // Starts inside the file but its sectors end over a cluster past it.
  uint64_t off = bytes.size() - 512;
  TestImage u = t;
  u.SetEntry(1, CompressedLayout(12).Encode(off, 3 * cs / 2));
  ExpectReadCorrupt(u.Build(), "runs past end of file");
}

TEST(Qcow2ReaderTest, DecompressionMustFillTheCluster) {
  const uint64_t cs = 4096;
  TestImage t(12, 8 * cs);
  auto half = TestImage::Deflate(std::vector<uint8_t>(cs / 2, 7));
  uint64_t off = t.Alloc(1);
  std::copy(half.begin(), half.end(), t.bytes().begin() + off);
  t.SetEntry(2, CompressedLayout(12).Encode(off, half.size()));
  ExpectReadCorrupt(t.Build(), "shorter than a cluster", /*map_too=*/false);
}

TEST(Qcow2ReaderTest, RejectsMisplacedTables) {
  TestImage t(12, 8 * 4096);
  t.AddData(0, 1);
  t.AddSnapshot("1", "s");
  auto good = t.Build();
  auto bad = good;
  StoreBE64(&bad[40], uint64_t{1} << 40);  // l1_table_offset
  ExpectOpenCorrupt(bad, "L1 table at");
  bad = good;
  StoreBE64(&bad[48], uint64_t{1} << 40);  // refcount_table_offset
  ExpectOpenCorrupt(bad, "refcount table");
  bad = good;
  StoreBE32(&bad[56], 100);  // refcount_table_clusters
  ExpectOpenCorrupt(bad, "refcount table");
  bad = good;
  StoreBE64(&bad[64], uint64_t{1} << 40);  // snapshots_offset
  ExpectOpenCorrupt(bad, "snapshot table");
  bad = good;
  StoreBE32(&bad[60], 5000);  // nb_snapshots
  ExpectOpenCorrupt(bad, "snapshot table");
  // Truncated in the middle of the L1 table.
  bad = good;
  bad.resize(t.header().l1_table_offset + 4);
  ExpectOpenCorrupt(bad, "");
  // Truncated inside the header.
  bad = good;
  bad.resize(50);
  ExpectOpenCorrupt(bad, "too short");
}

TEST(Qcow2ReaderTest, SnapshotL1PastEndOfFileFailsOnSelect) {
  TestImage t(12, 8 * 4096);
  t.AddData(0, 1);
  t.AddSnapshot("1", "s");
  auto bytes = t.Build();
  // Point the snapshot's L1 table past the end of the file.
  const uint64_t so = t.header().snapshots_offset;
  StoreBE64(&bytes[so], bytes.size() + 4096 * 4);
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(std::make_unique<io::MemFile>(
                                   "bad.qcow2", bytes)));
  Status s = r->SelectSnapshot("1");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("snapshot 1 L1 table"), std::string::npos) << s.message();
}

TEST(Qcow2ReaderTest, LastClusterCutShortReadsZerosPastEnd) {
  const uint64_t cs = 4096;
  TestImage t(12, 4 * cs);
  t.AddData(0, 0x11);  // allocates the L2 table before the last cluster
  uint64_t off = t.AddData(1, 0x77);
  auto bytes = t.Build();
  bytes.resize(off + 100);  // as qemu leaves a file after a short write
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(std::make_unique<io::MemFile>(
                                   "short.qcow2", bytes)));
  std::vector<uint8_t> got(cs);
  ASSERT_OK(r->Read(cs, got.data(), cs));
  EXPECT_EQ(got[99], 0x77);
  EXPECT_EQ(got[100], 0);
  EXPECT_EQ(got[cs - 1], 0);
}

TEST(Qcow2ReaderTest, ReadPastVirtualSizeIsInvalid) {
  TestImage t(12, 4096);
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("a")));
  uint8_t b[2];
  EXPECT_EQ(r->Read(4095, b, 2).code(), Code::kInvalidArgument);
  EXPECT_EQ(r->Read(UINT64_MAX, b, 2).code(), Code::kInvalidArgument);
}

TEST(Qcow2ReaderTest, LargeClustersAndEmptyImage) {
  const uint64_t cs = 2 << 20;
  TestImage t(21, 2 * cs);
  t.AddData(1, 0x21);
  ASSERT_OK_AND_ASSIGN(auto r, Qcow2Reader::Open(t.BuildFile("big")));
  std::vector<uint8_t> got(2 * cs);
  ASSERT_OK(r->Read(0, got.data(), got.size()));
  EXPECT_EQ(got[cs - 1], 0);
  EXPECT_EQ(got[cs], 0x21);
  TestImage e(16, 0);
  ASSERT_OK_AND_ASSIGN(auto r0, Qcow2Reader::Open(e.BuildFile("empty")));
  EXPECT_EQ(r0->virtual_size(), 0u);
}

// Random damage to the metadata of a small image with every kind of
// cluster: whatever happens must be a Status, never a crash (run under
// --enable-sanitizers to catch memory errors).
TEST(Qcow2ReaderTest, SurvivesRandomDamage) {
  const uint64_t cs = 4096;
  TestImage t(12, 64 * cs);
  t.AddData(0, 1);
  t.AddZero(1);
  t.AddCompressed(2, Pattern(cs, 5), 33);
  t.AddSnapshot("1", "s");
  t.AddData(0, 2);
  t.AddData(40, 3);
  const auto good = t.Build();
  // Metadata lives in the first clusters and in the L2 tables and
  // snapshot structures appended after the data.
  uint32_t x = 12345;
  auto rnd = [&x]() { return x = x * 1103515245u + 12345u, x >> 8; };
  int opened = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto bytes = good;
    for (int k = 1 + rnd() % 4; k > 0; --k) {
      size_t at = rnd() % bytes.size();
      if (rnd() % 2) at = rnd() % (5 * cs);  // favour the header and tables
      bytes[at] = static_cast<uint8_t>(rnd() % 3 == 0 ? 0xff : rnd());
    }
    if (rnd() % 10 == 0) bytes.resize(rnd() % bytes.size());
    auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("f", bytes));
    if (!r.ok()) {
      EXPECT_NE(r.status().message(), "");
      continue;
    }
    ++opened;
    auto& reader = r.value();
    std::vector<uint8_t> buf(std::min<uint64_t>(reader->virtual_size(), 1 << 20));
    (void)reader->Read(0, buf.data(), buf.size());
    for (uint64_t at = 0; at < buf.size();) {
      auto e = reader->Map(at, buf.size() - at);
      if (!e.ok()) break;
      ASSERT_GT(e.value().len, 0u);
      at += e.value().len;
    }
    for (size_t i = 0; i < reader->snapshots().size() && i < 4; ++i) {
      if (reader->SelectSnapshotAt(i).ok()) {
        (void)reader->Read(0, buf.data(), buf.size());
      }
    }
  }
  EXPECT_GT(opened, 100);  // the damage is not all caught at the header
}

// An image whose normal clusters live in an external data file: entries
// give offsets in that file, named relative to the image's directory.
TestImage DataFileImage(const std::string& data_file, bool raw) {
  TestImage t(12, 8 * 4096);
  t.header().incompatible_features = kIncompatDataFile;
  if (raw) t.header().autoclear_features = kAutoclearDataFileRaw;
  t.header().extensions.push_back(HeaderExtension{
      kExtDataFile, std::vector<uint8_t>(data_file.begin(), data_file.end())});
  return t;
}

TEST(Qcow2ReaderTest, ReadsFromExternalDataFile) {
  const uint64_t cs = 4096;
  FakeFs fs;
  std::vector<uint8_t> data(6 * cs, 0);
  std::fill_n(data.begin() + 5 * cs, cs, 0xd5);
  std::fill_n(data.begin() + 2 * cs, cs, 0xd2);
  fs.files["dir/sub/d.bin"] = data;
  TestImage t = DataFileImage("sub/d.bin", false);
  t.SetEntry(0, 5 * cs | kOflagCopied);  // guest 0 at data file 5
  t.SetEntry(3, 2 * cs | kOflagCopied);
  t.SetEntry(7, 9 * cs | kOflagCopied);  // past the data file's end: zeros
  t.AddZero(4);
  fs.files["dir/img.qcow2"] = t.Build();
  ASSERT_OK_AND_ASSIGN(auto r, fs.Open("dir/img.qcow2"));
  EXPECT_EQ(fs.opened, std::vector<std::string>{"dir/sub/d.bin"});
  EXPECT_EQ(r->data_file_path(), "dir/sub/d.bin");
  std::vector<uint8_t> want(8 * cs, 0);
  std::fill_n(want.begin(), cs, 0xd5);
  std::fill_n(want.begin() + 3 * cs, cs, 0xd2);
  EXPECT_EQ(ReadAll(r.get()), want);
}

TEST(Qcow2ReaderTest, RawDataFileAbsoluteName) {
  const uint64_t cs = 4096;
  FakeFs fs;
  std::vector<uint8_t> data(8 * cs, 0x11);
  fs.files["/abs/d.raw"] = data;
  TestImage t = DataFileImage("/abs/d.raw", true);
  for (uint64_t gc = 0; gc < 8; ++gc) t.SetEntry(gc, gc * cs | kOflagCopied);
  fs.files["dir/img.qcow2"] = t.Build();
  ASSERT_OK_AND_ASSIGN(auto r, fs.Open("dir/img.qcow2"));
  EXPECT_EQ(r->data_file_path(), "/abs/d.raw");
  EXPECT_EQ(ReadAll(r.get()), data);
}

TEST(Qcow2ReaderTest, ExternalDataFileErrors) {
  const uint64_t cs = 4096;
  {
    FakeFs fs;  // the data file is missing
    fs.files["img.qcow2"] = DataFileImage("d.raw", false).Build();
    Status s = fs.Open("img.qcow2").status();
    EXPECT_EQ(s.code(), Code::kNotFound);
    EXPECT_EQ(s.message(),
              "img.qcow2: external data file 'd.raw': d.raw: open: No such "
              "file or directory");
    // Described without it: Map works, Read refuses.
    Qcow2Reader::OpenOptions o = fs.Options();
    o.layout_only = true;
    ASSERT_OK_AND_ASSIGN(
        auto r, Qcow2Reader::Open(std::make_unique<io::MemFile>(
                                      "img.qcow2", fs.files["img.qcow2"]),
                                  o));
    EXPECT_OK(r->CountClusters().status());
    std::vector<uint8_t> buf(cs);
    EXPECT_EQ(r->Read(0, buf.data(), cs).code(), Code::kNotSupported);
  }
  {
    FakeFs fs;  // the bit without a name
    TestImage t(12, 8 * cs);
    t.header().incompatible_features = kIncompatDataFile;
    fs.files["img.qcow2"] = t.Build();
    Status s = fs.Open("img.qcow2").status();
    EXPECT_EQ(s.code(), Code::kNotSupported);
    EXPECT_EQ(s.message(),
              "img.qcow2: external data file: the header does not name it");
  }
  {
    FakeFs fs;  // compressed clusters are not allowed (as in qemu)
    fs.files["d.raw"] = std::vector<uint8_t>(8 * cs);
    TestImage t = DataFileImage("d.raw", false);
    t.AddCompressed(1, std::vector<uint8_t>(cs, 0x42));
    fs.files["img.qcow2"] = t.Build();
    ASSERT_OK_AND_ASSIGN(auto r, fs.Open("img.qcow2"));
    std::vector<uint8_t> buf(2 * cs);
    Status s = r->Read(0, buf.data(), buf.size());
    EXPECT_EQ(s.code(), Code::kCorruption);
    EXPECT_NE(s.message().find("compressed cluster in an image with an "
                               "external data file"),
              std::string::npos)
        << s.message();
  }
}

TEST(Qcow2ReaderTest, EncryptedImagesRefusedButDescribed) {
  const uint64_t cs = 4096;
  for (uint32_t method : {kCryptAes, kCryptLuks}) {
    TestImage t(12, 8 * cs);
    t.header().crypt_method = method;
    if (method == kCryptLuks) {
      std::vector<uint8_t> ext(16);
      StoreBE64(ext.data(), 3 * cs);
      StoreBE64(ext.data() + 8, cs);
      t.header().extensions.push_back(HeaderExtension{kExtCrypto, ext});
    }
    t.AddData(2, 0x77);
    std::vector<uint8_t> img = t.Build();
    Status s = Qcow2Reader::Open(std::make_unique<io::MemFile>("e.qcow2", img))
                   .status();
    EXPECT_EQ(s.code(), Code::kNotSupported);
    EXPECT_EQ(s.message(), std::string("e.qcow2: encrypted images (") +
                               (method == kCryptAes ? "AES" : "LUKS") +
                               ") are not supported");
    Qcow2Reader::OpenOptions o;
    o.layout_only = true;
    ASSERT_OK_AND_ASSIGN(
        auto r,
        Qcow2Reader::Open(std::make_unique<io::MemFile>("e.qcow2", img), o));
    ASSERT_OK_AND_ASSIGN(auto c, r->CountClusters());
    EXPECT_EQ(c.data, 1u);
    std::vector<uint8_t> buf(cs);
    EXPECT_EQ(r->Read(0, buf.data(), cs).code(), Code::kNotSupported);
  }
}

}  // namespace
}  // namespace e2q::qcow2
