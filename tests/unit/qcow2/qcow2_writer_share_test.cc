// Tests for the sharing of equal clusters and L2 tables by Qcow2Writer
// (share_identical): what is read back equals what was written, the file
// is smaller, qemu-img check finds nothing, and a file where nothing is
// equal is byte for byte the unshared one.
#include <algorithm>
#include <cstring>
#include <memory>
#include <random>

#include "lib/base/endian.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

// A guest of `clusters` clusters of `cs` bytes whose cluster i holds
// pattern content(i) (0: zeros).
template <typename F>
std::vector<uint8_t> Guest(uint64_t clusters, size_t cs, F content) {
  std::vector<uint8_t> g(clusters * cs, 0);
  for (uint64_t i = 0; i < clusters; ++i) {
    const uint32_t seed = content(i);
    if (seed == 0) continue;
    auto p = RandomBytes(cs, seed);
    std::copy(p.begin(), p.end(), g.begin() + i * cs);
  }
  return g;
}

// Writes `guest` with runs of non-zero clusters (as the image sink does).
void WritePlain(io::MemFile* f, const std::vector<uint8_t>& guest,
                uint32_t bits, bool share, Qcow2Writer** out = nullptr,
                std::unique_ptr<Qcow2Writer>* keep = nullptr) {
  WriterOptions o;
  o.cluster_bits = bits;
  o.virtual_size = guest.size();
  o.share_identical = share;
  o.snapshot_date_sec = 1700000000;
  auto w = Qcow2Writer::Create(f, o);
  ASSERT_OK(w.status());
  const size_t cs = size_t{1} << bits;
  const uint64_t n = guest.size() / cs;
  auto zero = [&](uint64_t i) {
    return std::all_of(&guest[i * cs], &guest[i * cs] + cs,
                       [](uint8_t b) { return b == 0; });
  };
  for (uint64_t i = 0; i < n;) {
    if (zero(i)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < n && !zero(j)) ++j;
    ASSERT_OK((*w)->AddDataClusters(i, &guest[i * cs], j - i));
    i = j;
  }
  ASSERT_OK((*w)->Finish());
  if (out) *out = w->get();
  if (keep) *keep = std::move(*w);
}

std::vector<uint8_t> ReadAll(const std::vector<uint8_t>& file,
                             const std::string& snapshot = "") {
  auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("f", file));
  EXPECT_OK(r.status());
  if (!r.ok()) return {};
  if (!snapshot.empty()) EXPECT_OK((*r)->SelectSnapshot(snapshot));
  std::vector<uint8_t> g((*r)->virtual_size());
  EXPECT_OK((*r)->Read(0, g.data(), g.size()));
  return g;
}

TEST(Qcow2WriterShareTest, EqualClustersStoredOnceWithAsWrittenSnapshot) {
  constexpr uint32_t kBits = 12;
  // 3000 clusters, of 5 distinct contents plus zeros; equal ones both in
  // one run and across runs.
  auto guest = Guest(3000, 4096, [](uint64_t i) {
    return i % 11 == 0 ? 0u : static_cast<uint32_t>(1 + i % 5);
  });
  io::MemFile shared, plain;
  Qcow2Writer* w = nullptr;
  std::unique_ptr<Qcow2Writer> keep;
  WritePlain(&shared, guest, kBits, true, &w, &keep);
  WritePlain(&plain, guest, kBits, false);
  EXPECT_EQ(w->data_clusters(), 5u);
  EXPECT_GT(w->shared_clusters(), 2700u);
  EXPECT_LT(shared.data().size(), plain.data().size() / 10);
  EXPECT_EQ(ReadAll(shared.data()), guest);
  EXPECT_EQ(ReadAll(shared.data(), kAsWrittenSnapshotName), guest);
  ASSERT_OK_AND_ASSIGN(Header h, Header::DecodeFrom("f", shared.data().data(),
                                                    shared.data().size()));
  EXPECT_EQ(h.nb_snapshots, 1u);
  // No COPIED flag anywhere: everything is reachable from two L1 tables.
  for (uint32_t i = 0; i < h.l1_size; ++i) {
    EXPECT_EQ(
        LoadBE64(&shared.data()[h.l1_table_offset + i * 8]) & kOflagCopied, 0u);
  }
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(shared.data()), 0);
    EXPECT_EQ(QemuCheck(plain.data()), 0);
  }
}

TEST(Qcow2WriterShareTest, NothingEqualGivesTheUnsharedBytes) {
  auto guest = Guest(2000, 1024, [](uint64_t i) {
    return i % 3 == 0 ? 0u : static_cast<uint32_t>(i + 1);
  });
  io::MemFile shared, plain;
  WritePlain(&shared, guest, 10, true);
  WritePlain(&plain, guest, 10, false);
  EXPECT_EQ(shared.data(), plain.data());
}

TEST(Qcow2WriterShareTest, EqualL2TablesAreShared) {
  // 512-byte clusters: an L2 table covers 64 clusters.  Every table's range
  // holds the same pattern, so after the first each table equals it.
  auto guest = Guest(64 * 40, 512, [](uint64_t i) {
    return i % 64 < 5 ? static_cast<uint32_t>(7 + i % 64) : 0u;
  });
  io::MemFile shared;
  Qcow2Writer* w = nullptr;
  std::unique_ptr<Qcow2Writer> keep;
  WritePlain(&shared, guest, 9, true, &w, &keep);
  EXPECT_EQ(w->shared_tables(), 39u);
  EXPECT_EQ(ReadAll(shared.data()), guest);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(shared.data()), 0);
  }
}

TEST(Qcow2WriterShareTest, SharingWorthLessThanTheSnapshotIsUndone) {
  // A 128 MiB guest with 512-byte clusters: the snapshot's L1 table would
  // cost 32 KiB, sharing saves one L2 table and 5 clusters.
  const uint64_t n = (128 << 20) / 512;
  // Tables 0 and 1 equal, table 2 not: undone, the copies of table 1 and
  // its clusters follow table 2 (so the bytes differ from the unshared
  // file, whose order is the guest's).
  auto guest = Guest(n, 512, [](uint64_t i) {
    if (i >= 192 || i % 64 >= 5) return 0u;
    return static_cast<uint32_t>((i >= 128 ? 100 : 7) + i % 64);
  });
  io::MemFile shared, plain;
  Qcow2Writer* w = nullptr;
  std::unique_ptr<Qcow2Writer> keep;
  WritePlain(&shared, guest, 9, true, &w, &keep);
  WritePlain(&plain, guest, 9, false);
  EXPECT_EQ(w->shared_clusters(), 0u);
  EXPECT_EQ(w->shared_tables(), 0u);
  ASSERT_OK_AND_ASSIGN(Header h, Header::DecodeFrom("f", shared.data().data(),
                                                    shared.data().size()));
  EXPECT_EQ(h.nb_snapshots, 0u);
  EXPECT_LE(shared.data().size(), plain.data().size() + 512);
  // Not the unshared bytes: the copies went to the end of the file.
  EXPECT_NE(shared.data(), plain.data());
  EXPECT_EQ(ReadAll(shared.data()), guest);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(shared.data()), 0);
  }
}

TEST(Qcow2WriterShareTest, PopularClusterStaysWithinRefcounts) {
  // More equal clusters than one host cluster may be referenced (twice,
  // through the snapshot) within 16-bit refcounts: a second copy is stored.
  const uint64_t n = 2 * ClusterDedup::kShareCap + 100;
  auto guest = Guest(n, 512, [](uint64_t) { return 42u; });
  io::MemFile shared;
  Qcow2Writer* w = nullptr;
  std::unique_ptr<Qcow2Writer> keep;
  WritePlain(&shared, guest, 9, true, &w, &keep);
  EXPECT_GE(w->data_clusters(), 3u);
  EXPECT_LE(w->data_clusters(), 10u);
  EXPECT_EQ(ReadAll(shared.data()), guest);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(shared.data()), 0);
  }
}

TEST(Qcow2WriterShareTest, CompressedBatchesReuseStoredAndEarlierClusters) {
  constexpr uint32_t kBits = 12;
  constexpr size_t kCs = 4096;
  // Compressible clusters: runs of a few byte values.
  auto content = [](uint32_t k) {
    std::vector<uint8_t> c(kCs);
    for (size_t i = 0; i < kCs; ++i) c[i] = static_cast<uint8_t>(k + i / 512);
    return c;
  };
  std::vector<uint8_t> guest;
  const uint64_t n = 600;
  for (uint64_t i = 0; i < n; ++i) {
    auto c = content(static_cast<uint32_t>(i % 7));
    guest.insert(guest.end(), c.begin(), c.end());
  }
  ASSERT_OK_AND_ASSIGN(
      auto comp, ClusterCompressor::Create(
                     ClusterCompressor::Algorithm::kDeflate, 6, 1, kBits));
  io::MemFile f;
  WriterOptions o;
  o.cluster_bits = kBits;
  o.virtual_size = guest.size();
  ASSERT_OK_AND_ASSIGN(auto w, Qcow2Writer::Create(&f, o));
  ASSERT_TRUE(w->reuses_clusters());
  EXPECT_FALSE(w->wants_batches());
  std::vector<std::vector<uint8_t>> z;
  std::vector<uint8_t> reusable;
  for (uint64_t b = 0; b < n; b += 100) {
    std::vector<uint64_t> idx;
    for (uint64_t i = b; i < b + 100; ++i) idx.push_back(i);
    const uint8_t* data = &guest[b * kCs];
    ASSERT_OK(w->FindReusable(idx.data(), data, idx.size(), &reusable));
    std::vector<uint8_t> packed;
    for (size_t k = 0; k < idx.size(); ++k) {
      if (!reusable[k])
        packed.insert(packed.end(), data + k * kCs, data + (k + 1) * kCs);
    }
    ASSERT_OK(comp->CompressBatch(packed.data(), packed.size() / kCs, &z));
    size_t c = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      if (reusable[k]) {
        ASSERT_OK(w->AddReusedCluster(idx[k]));
      } else {
        ASSERT_FALSE(z[c].empty());
        ASSERT_OK(w->AddCompressedCluster(idx[k], z[c].data(), z[c].size()));
        ++c;
      }
    }
  }
  ASSERT_OK(w->Finish());
  EXPECT_EQ(w->compressed_clusters(), 7u);
  EXPECT_EQ(w->shared_clusters(), n - 7);
  EXPECT_EQ(ReadAll(f.data()), guest);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(f.data()), 0);
  }
}

TEST(Qcow2WriterShareTest, HashCollisionsAreNeverShared) {
  // ClusterDedup compares the stored bytes: a hash remembered for other
  // content is a miss.
  io::MemFile f;
  Qcow2FileBuilder file(&f, 12);
  ClusterDedup dedup(&file);
  auto a = RandomBytes(4096, 1), b = RandomBytes(4096, 2);
  ASSERT_OK(file.PadToCluster());
  const uint64_t host = file.pos();
  ASSERT_OK(file.Append(a.data(), a.size()));
  ASSERT_OK(file.Reference(host, file.pos()));
  const uint64_t hb = ClusterDedup::Hash(b.data(), b.size());
  dedup.RememberCluster(hb, {host, 4096});  // as if a's hash were b's
  ASSERT_OK_AND_ASSIGN(StoredCluster found, dedup.FindCluster(hb, b.data()));
  EXPECT_EQ(found.entry, 0u);
  const uint64_t ha = ClusterDedup::Hash(a.data(), a.size());
  dedup.RememberCluster(ha, {host, 4096});
  ASSERT_OK_AND_ASSIGN(found, dedup.FindCluster(ha, a.data()));
  EXPECT_EQ(found.entry, host);
}

}  // namespace
}  // namespace e2q::qcow2
