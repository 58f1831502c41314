// Tests for lib/qcow2_writer: layout invariants checked by decoding the
// output, and qemu-img's own checker as the oracle where it is installed.
#include "lib/qcow2/qcow2_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "lib/base/endian.h"
#include "lib/io/forwarding_file.h"
#include "lib/io/posix_file.h"
#include "lib/qcow2/qcow2_format.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/test_util.h"
#include "tests/unit/var_tmp_file.h"

namespace e2q::qcow2 {
namespace {

// Reads guest cluster `index` by walking L1/L2 (uncompressed only).
std::vector<uint8_t> ReadCluster(const std::vector<uint8_t>& f,
                                 uint64_t index) {
  auto h = Header::DecodeFrom("f", f.data(), f.size());
  EXPECT_TRUE(h.ok());
  uint64_t cs = h->cluster_size();
  uint64_t per = cs / 8;
  uint64_t l1e = LoadBE64(&f[h->l1_table_offset + index / per * 8]);
  std::vector<uint8_t> out(cs, 0);
  if ((l1e & kL1OffsetMask) == 0) return out;
  uint64_t l2e = LoadBE64(&f[(l1e & kL1OffsetMask) + index % per * 8]);
  uint64_t host = l2e & kL2OffsetMask;
  if (host) std::copy(&f[host], &f[host] + cs, out.begin());
  return out;
}

TEST(Qcow2WriterTest, EmptyImageIsValid) {
  io::MemFile f;
  WriterOptions o;
  o.virtual_size = 10 << 20;
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  ASSERT_OK(w->Finish());
  ASSERT_OK_AND_ASSIGN(Header h, Header::DecodeFrom("f", f.data().data(),
                                                    f.data().size()));
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.size, 10u << 20);
  EXPECT_EQ(f.data().size() % h.cluster_size(), 0u);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(f.data()), 0);
  }
}

TEST(Qcow2WriterTest, ZeroSizedDiskIsValid) {
  io::MemFile f;
  WriterOptions o;
  o.virtual_size = 0;
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  ASSERT_OK(w->Finish());
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(f.data()), 0);
  }
}

TEST(Qcow2WriterTest, CompressionTypeIsCheckedBeforeUse) {
  io::MemFile f("img");
  WriterOptions o;
  o.virtual_size = 1 << 20;
  o.version = 2;
  ASSERT_OK_AND_ASSIGN(auto v2, Qcow2Writer::Create(&f, o));
  Status s = v2->SetCompressionType(kCompressionZstd);
  EXPECT_NE(s.message().find("img: qcow2: zstd compression needs compat 1.1"),
            std::string::npos) << s.ToString();
  EXPECT_OK(v2->SetCompressionType(kCompressionDeflate));

  io::MemFile g("img3");
  o.version = 3;
  ASSERT_OK_AND_ASSIGN(auto v3, Qcow2Writer::Create(&g, o));
  EXPECT_OK(v3->SetCompressionType(kCompressionZstd));
  const std::vector<uint8_t> data = RandomBytes(v3->cluster_size(), 5);
  ASSERT_OK(v3->AddDataCluster(0, data.data()));
  s = v3->SetCompressionType(kCompressionDeflate);
  EXPECT_NE(s.message().find("img3: qcow2: compression type set too late"),
            std::string::npos) << s.ToString();
}

TEST(Qcow2WriterTest, DataRoundTripsAcrossClusterSizes) {
  for (uint32_t bits : {9u, 10u, 12u, 16u, 21u}) {
    SCOPED_TRACE(bits);
    for (uint32_t version : {2u, 3u}) {
      io::MemFile f;
      WriterOptions o;
      o.version = version;
      o.cluster_bits = bits;
      uint64_t cs = uint64_t{1} << bits;
      o.virtual_size = cs * 5000;  // several L2 tables at small sizes
      ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
      std::vector<uint64_t> idx = {0, 1, 7, 63, 64, 65, 1000, 4999};
      for (uint64_t i : idx) {
        auto d = RandomBytes(cs, static_cast<uint32_t>(i));
        ASSERT_OK(w->AddDataCluster(i, d.data()));
      }
      ASSERT_OK(w->Finish());
      for (uint64_t i : idx) {
        EXPECT_EQ(ReadCluster(f.data(), i), RandomBytes(cs, uint32_t(i)));
      }
      EXPECT_EQ(ReadCluster(f.data(), 2), std::vector<uint8_t>(cs, 0));
      if (HaveQemuImg()) {
        EXPECT_EQ(QemuCheck(f.data()), 0);
      }
    }
  }
}

TEST(Qcow2WriterTest, ClusterRunsCrossL2TablesAndMatchSingleAdds) {
  const uint64_t cs = 4096;  // 512 entries per L2 table
  auto data = RandomBytes(cs * 1500, 42);
  io::MemFile runs, singles;
  for (io::MemFile* f : {&runs, &singles}) {
    WriterOptions o;
    o.cluster_bits = 12;
    o.virtual_size = cs * 4000;
    ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(f, o));
    if (f == &runs) {
      ASSERT_OK(w->AddDataClusters(2, data.data(), 3));  // small: buffered
      ASSERT_OK(w->AddDataClusters(300, data.data(), 1500));  // direct
    } else {
      for (uint64_t k = 0; k < 3; ++k) {
        ASSERT_OK(w->AddDataCluster(2 + k, data.data() + k * cs));
      }
      for (uint64_t k = 0; k < 1500; ++k) {
        ASSERT_OK(w->AddDataCluster(300 + k, data.data() + k * cs));
      }
    }
    EXPECT_FALSE(w->AddDataClusters(3990, data.data(), 20).ok());
    ASSERT_OK(w->Finish());
  }
  EXPECT_EQ(runs.data(), singles.data());
  for (uint64_t k : {0u, 211u, 212u, 723u, 1499u}) {
    std::vector<uint8_t> want(data.begin() + k * cs,
                              data.begin() + (k + 1) * cs);
    EXPECT_EQ(ReadCluster(runs.data(), 300 + k), want) << k;
  }
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(runs.data()), 0);
  }
}

TEST(Qcow2WriterTest, RejectsOutOfOrderAndOutOfRange) {
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = 12;
  o.virtual_size = 4096 * 10;
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  std::vector<uint8_t> d(4096, 1);
  ASSERT_OK(w->AddDataCluster(5, d.data()));
  EXPECT_FALSE(w->AddDataCluster(5, d.data()).ok());
  EXPECT_FALSE(w->AddDataCluster(3, d.data()).ok());
  EXPECT_FALSE(w->AddDataCluster(10, d.data()).ok());
}

TEST(Qcow2WriterTest, ZeroClustersNeedVersion3) {
  io::MemFile f;
  WriterOptions o;
  o.version = 2;
  o.virtual_size = 1 << 20;
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  EXPECT_FALSE(w->AddZeroCluster(0).ok());
}

TEST(Qcow2WriterTest, RefusesL1BeyondQemuLimit) {
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = 12;
  o.virtual_size = uint64_t{9} << 40;  // 9 TiB at 4 KiB clusters
  EXPECT_FALSE(Qcow2Writer::Create(&f, o).ok());
  o.cluster_bits = 16;
  EXPECT_TRUE(Qcow2Writer::Create(&f, o).ok());
}

TEST(Qcow2WriterTest, CompressedAndZeroClustersPassQemuCheck) {
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = 12;
  o.virtual_size = 4096 * 2000;
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  // Fake compressed payloads of varying sizes, packed back to back, some
  // straddling host cluster boundaries; they are never decompressed here.
  for (uint64_t i = 0; i < 600; ++i) {
    if (i % 7 == 3) {
      ASSERT_OK(w->AddZeroCluster(i));
    } else if (i % 5 == 0) {
      auto d = RandomBytes(4096, uint32_t(i));
      ASSERT_OK(w->AddDataCluster(i, d.data()));
    } else {
      auto d = RandomBytes(100 + (i * 37) % 3000, uint32_t(i));
      ASSERT_OK(w->AddCompressedCluster(i, d.data(), d.size()));
    }
  }
  ASSERT_OK(w->Finish());
  EXPECT_GT(w->compressed_clusters(), 0u);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(f.data()), 0);
  }
}

TEST(Qcow2WriterTest, RecordsBackingFileAndFormat) {
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = 9;  // the name must still fit in cluster 0
  o.virtual_size = 1 << 20;
  o.backing_file = "base.qcow2";
  o.backing_format = "qcow2";
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  ASSERT_OK(w->Finish());
  ASSERT_OK_AND_ASSIGN(Header h, Header::DecodeFrom("f", f.data().data(),
                                                    f.data().size()));
  EXPECT_EQ(h.backing_file, "base.qcow2");
  ASSERT_EQ(h.extensions.size(), 1u);
  EXPECT_EQ(h.extensions[0].type, kExtBackingFormat);
  o.backing_file = std::string(600, 'x');  // does not fit in 512 bytes
  EXPECT_FALSE(Qcow2Writer::Create(&f, o).ok());
}

TEST(Qcow2WriterTest, SetExtensionReplacesInPlaceBeforeFinish) {
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = 9;
  o.virtual_size = 1 << 20;
  o.backing_file = "base.qcow2";
  o.backing_format = "qcow2";
  o.extensions.push_back(HeaderExtension{0xe2e2a9e0, std::vector<uint8_t>(40)});
  o.extensions.push_back(HeaderExtension{0x12345678, {1, 2, 3}});
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  auto d = RandomBytes(512, 7);
  ASSERT_OK(w->AddDataCluster(3, d.data()));
  // Replaced in place (order kept), then a new type appended.
  ASSERT_OK(w->SetExtension(0xe2e2a9e0, std::vector<uint8_t>(40, 0xab)));
  ASSERT_OK(w->SetExtension(0x0badf00d, {9}));
  // Managed types and oversized data are refused and change nothing.
  EXPECT_FALSE(w->SetExtension(kExtBackingFormat, {'r', 'a', 'w'}).ok());
  EXPECT_FALSE(w->SetExtension(kExtEnd, {}).ok());
  EXPECT_FALSE(w->SetExtension(0x12345678, std::vector<uint8_t>(400)).ok());
  ASSERT_OK(w->Finish());
  EXPECT_FALSE(w->SetExtension(0x0badf00d, {1}).ok());
  ASSERT_OK_AND_ASSIGN(Header h, Header::DecodeFrom("f", f.data().data(),
                                                    f.data().size()));
  ASSERT_EQ(h.extensions.size(), 4u);
  EXPECT_EQ(h.extensions[0].type, kExtBackingFormat);
  EXPECT_EQ(h.extensions[1].type, 0xe2e2a9e0u);
  EXPECT_EQ(h.extensions[1].data, std::vector<uint8_t>(40, 0xab));
  EXPECT_EQ(h.extensions[2].type, 0x12345678u);
  EXPECT_EQ(h.extensions[2].data, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(h.extensions[3].type, 0x0badf00du);
  EXPECT_EQ(h.backing_file, "base.qcow2");
  // (qemu-img check would look for base.qcow2: checked without a backing
  // file below.)
  io::MemFile g;
  o.backing_file.clear();
  o.backing_format.clear();
  ASSERT_OK_AND_ASSIGN(auto w2, Qcow2Writer::Create(&g, o));
  ASSERT_OK(w2->AddDataCluster(3, d.data()));
  ASSERT_OK(w2->SetExtension(0xe2e2a9e0, std::vector<uint8_t>(40, 0xab)));
  ASSERT_OK(w2->Finish());
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(g.data()), 0);
  }
}

TEST(Qcow2WriterTest, SameCallsSameBytes) {
  auto build = [](io::MemFile* f) {
    WriterOptions o;
    o.cluster_bits = 10;
    o.virtual_size = 1 << 24;
    auto w = Qcow2Writer::Create(f, o);
    ASSERT_TRUE(w.ok());
    for (uint64_t i = 0; i < 16384; i += 3) {
      auto d = RandomBytes(1024, uint32_t(i));
      ASSERT_OK((*w)->AddDataCluster(i, d.data()));
    }
    ASSERT_OK((*w)->Finish());
  };
  io::MemFile a, b;
  build(&a);
  build(&b);
  EXPECT_EQ(a.data(), b.data());
}

// Counts the writer's File::Reserve calls, and can decline them.
class ReserveCounter : public io::ForwardingFile {
 public:
  using ForwardingFile::ForwardingFile;
  bool Reserve(uint64_t offset, uint64_t len) override {
    ++calls;
    reserved_end = std::max(reserved_end, offset + len);
    return decline ? false : ForwardingFile::Reserve(offset, len);
  }
  int calls = 0;
  uint64_t reserved_end = 0;
  bool decline = false;
};

// A file is allocated ahead of the writes, and what lies past the end is
// released: the image is the same bytes as in memory, and allocates no
// more than its length.
TEST(Qcow2WriterTest, AllocatesAheadAndReleasesThePastTheEnd) {
  for (const uint64_t clusters : {uint64_t{3}, uint64_t{400}}) {
    for (const bool decline : {false, true}) {
      SCOPED_TRACE(std::to_string(clusters) + " clusters" +
                   (decline ? ", declined" : ""));
      auto build = [clusters](io::File* f) {
        WriterOptions o;
        o.virtual_size = 1 << 30;
        auto w = Qcow2Writer::Create(f, o);
        ASSERT_TRUE(w.ok());
        for (uint64_t i = 0; i < clusters; ++i) {
          auto d = RandomBytes(65536, uint32_t(i));
          ASSERT_OK((*w)->AddDataCluster(2 * i, d.data()));
        }
        ASSERT_OK((*w)->Finish());
      };
      io::MemFile mem;
      build(&mem);
      std::unique_ptr<io::PosixFile> file =
          UnlinkedVarTmpFile("e2q-reserve-image");
      ASSERT_NE(file, nullptr);
      io::PosixFile& posix = *file;
      const int fd = posix.fd();
      ReserveCounter f(&posix);
      f.decline = decline;
      build(&f);
      std::vector<uint8_t> bytes(mem.data().size() + 1);
      ASSERT_OK_AND_ASSIGN(size_t n,
                           posix.ReadSome(0, bytes.data(), bytes.size()));
      bytes.resize(n);
      EXPECT_TRUE(bytes == mem.data());
      // Asked ahead of the data (400 clusters: more than once), and once
      // only when declined.
      if (decline) {
        EXPECT_EQ(f.calls, 1);
      } else {
        EXPECT_GE(f.calls, clusters > 100 ? 2 : 1);
        EXPECT_GT(f.reserved_end, mem.data().size());
      }
      struct stat st;
      ASSERT_EQ(::fstat(fd, &st), 0);
      EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512,
                mem.data().size() + 65536);
    }
  }
}

}  // namespace
}  // namespace e2q::qcow2
