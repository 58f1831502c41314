// Tests for lib/qcow2_multi_writer: every state reads back through the
// project's reader (and qemu-img check accepts the file where installed),
// unchanged clusters and tables are shared, and the output is deterministic.
#include "lib/qcow2/qcow2_multi_writer.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include "lib/image/image_sink.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_reader.h"
#include "tests/unit/qemu_img.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

using Image = std::vector<uint8_t>;



// Compressible but not trivial content.
void Fill(Image* img, uint64_t off, uint64_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  for (uint64_t i = 0; i < len; ++i) (*img)[off + i] = "abcdefgh"[rng() % 8];
}

// Three states of 256 KiB with 512-byte clusters (L2 tables of 64
// clusters): the second changes two clusters and zeroes one, the third
// changes one cluster of the first L2 range only.
std::vector<Image> MakeStates() {
  std::vector<Image> s(3, Image(256 << 10, 0));
  Fill(&s[0], 0, 200 << 10, 1);
  s[1] = s[0];
  Fill(&s[1], 70 * 512, 512, 2);
  Fill(&s[1], 150 * 512, 700, 3);
  std::fill(&s[1][10 * 512], &s[1][11 * 512], 0);
  Fill(&s[1], 450 * 512, 512, 4);  // past the data of state 0
  s[2] = s[1];
  Fill(&s[2], 5 * 512, 512, 5);
  return s;
}

Image Write(const std::vector<Image>& states, bool compress,
            MultiWriterStats* stats, bool last_state_is_snapshot = true) {
  io::MemFile out("multi.qcow2");
  MultiWriterOptions o;
  o.cluster_bits = 9;
  o.last_state_is_snapshot = last_state_is_snapshot;
  auto w = Qcow2MultiWriter::Create(&out, o);
  EXPECT_TRUE(w.ok());
  std::unique_ptr<qcow2::ClusterCompressor> comp;
  if (compress) {
    auto c = qcow2::ClusterCompressor::Create(
        qcow2::ClusterCompressor::Algorithm::kDeflate, 6, 2, 9);
    EXPECT_TRUE(c.ok());
    comp = std::move(c).value();
  }
  for (size_t i = 0; i < states.size(); ++i) {
    StateInfo info;
    info.id_str = i + 1 == states.size() ? "0" : std::to_string(i + 1);
    info.name = i + 1 == states.size() ? "current" : "snap" + info.id_str;
    info.virtual_size = states[i].size();
    info.date_sec = 1000 + i;
    auto t = (*w)->BeginState(info);
    EXPECT_TRUE(t.ok());
    auto sink = image::NewQcow2Sink(*t, comp.get());
    // Uneven pieces, as the copy pipeline may deliver them.
    const Image& img = states[i];
    for (uint64_t off = 0; off < img.size();) {
      uint64_t n = std::min<uint64_t>(img.size() - off, 3000 + off % 4096);
      EXPECT_OK(sink->Write(off, img.data() + off, n));
      off += n;
    }
    EXPECT_OK(sink->Finish());
  }
  EXPECT_OK((*w)->Finish());
  if (stats) *stats = (*w)->stats();
  return out.data();
}

Image ReadState(const Image& file, const std::string& snap) {
  auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("m", file));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!snap.empty()) EXPECT_OK((*r)->SelectSnapshot(snap));
  Image out((*r)->virtual_size());
  EXPECT_OK((*r)->Read(0, out.data(), out.size()));
  return out;
}

void CheckFile(const Image& file, const std::vector<Image>& states) {
  auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("m", file));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& snaps = (*r)->snapshots();
  ASSERT_EQ(snaps.size(), 3u);
  EXPECT_EQ(snaps[0].id_str, "0");
  EXPECT_EQ(snaps[0].name, "current");
  EXPECT_EQ(snaps[1].id_str, "2");
  EXPECT_EQ(snaps[2].id_str, "1");
  EXPECT_EQ(snaps[2].date_sec, 1000u);
  EXPECT_EQ(ReadState(file, "1"), states[0]);
  EXPECT_EQ(ReadState(file, "2"), states[1]);
  EXPECT_EQ(ReadState(file, "current"), states[2]);
  EXPECT_EQ(ReadState(file, ""), states[2]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
}

TEST(Qcow2MultiWriterTest, StatesReadBackAndShareClusters) {
  auto states = MakeStates();
  MultiWriterStats st;
  Image file = Write(states, false, &st);
  CheckFile(file, states);
  // State 0: 400 data clusters.  State 1 stores its 4 changed or new
  // clusters (70, 150, 151, 450) and drops cluster 10; state 2 stores one.
  EXPECT_EQ(st.stored_clusters, 400u + 4 + 1);
  EXPECT_EQ(st.reused_clusters, 396u + 399);
  // Ranges 3..6 of state 1 equal state 0's tables, 1..7 of state 2 state 1's.
  EXPECT_EQ(st.shared_l2_tables, 4u + 7);
  // Header and the hole up to 4 KiB, data, 8 + 4 + 1 L2 tables, 4 L1
  // tables, snapshot table, refcounts.
  EXPECT_LE(file.size(), (8u + 405 + 13 + 4 + 1 + 2) * 512);
}

TEST(Qcow2MultiWriterTest, CompressedStatesShareCompressedClusters) {
  auto states = MakeStates();
  MultiWriterStats st;
  Image file = Write(states, true, &st);
  CheckFile(file, states);
  EXPECT_EQ(st.reused_clusters, 396u + 399);
  EXPECT_EQ(st.compressed_clusters + st.stored_clusters, 405u);
  EXPECT_GT(st.compressed_clusters, 300u);
}

TEST(Qcow2MultiWriterTest, EqualClustersAnywhereStoredOnce) {
  // State 0 repeats one cluster 50 times (in one batch) and another at the
  // start of L2 ranges 1-4 (equal tables); state 1 puts a copy of the
  // first to cluster 300; state 2 adds one new cluster.
  std::vector<Image> s(3, Image(256 << 10, 0));
  Fill(&s[0], 0, 512, 1);
  for (int i = 1; i < 50; ++i) {
    std::copy(&s[0][0], &s[0][512], &s[0][i * 512]);
  }
  Fill(&s[0], 64 * 512, 512, 2);
  for (int r = 2; r < 5; ++r) {
    std::copy(&s[0][64 * 512], &s[0][65 * 512], &s[0][r * 64 * 512]);
  }
  s[1] = s[0];
  std::copy(&s[0][0], &s[0][512], &s[1][300 * 512]);
  s[2] = s[1];
  Fill(&s[2], 400 * 512, 512, 3);
  for (bool compress : {false, true}) {
    MultiWriterStats st;
    Image file = Write(s, compress, &st);
    CheckFile(file, s);
    EXPECT_EQ(st.stored_clusters + st.compressed_clusters, 3u) << compress;
    EXPECT_EQ(st.equal_l2_tables, 3u) << compress;  // ranges 2-4 of state 0
    EXPECT_GE(st.equal_clusters, 49u + 3 + 1) << compress;
  }
}

// Without last_state_is_snapshot, the last state is the active layer only,
// unless it shares a cluster or table within itself: then it is a snapshot
// too, and qemu-img check accepts the file either way.
TEST(Qcow2MultiWriterTest, LastStateIsASnapshotOnlyWhenItSharesWithinItself) {
  auto names = [](const Image& file) {
    auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("m", file));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> v;
    if (r.ok()) {
      for (const auto& snap : (*r)->snapshots()) v.push_back(snap.name);
    }
    return v;
  };
  using Names = std::vector<std::string>;
  std::vector<Image> s = MakeStates();
  // Equal to clusters of earlier states only: no snapshot of its own.
  std::copy(&s[0][0], &s[0][512], &s[2][300 * 512]);
  Image file = Write(s, false, nullptr, false);
  EXPECT_EQ(names(file), (Names{"snap2", "snap1"}));
  EXPECT_EQ(ReadState(file, ""), s[2]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
  // A new cluster twice in the last state.
  std::vector<Image> t = s;
  Fill(&t[2], 301 * 512, 512, 9);
  std::copy(&t[2][301 * 512], &t[2][302 * 512], &t[2][302 * 512]);
  file = Write(t, false, nullptr, false);
  EXPECT_EQ(names(file), (Names{"current", "snap2", "snap1"}));
  EXPECT_EQ(ReadState(file, ""), t[2]);
  EXPECT_EQ(ReadState(file, "current"), t[2]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
  // Two L2 ranges of the last state alike, so their tables are too, though
  // every cluster in them is an older state's: ranges 6 and 7 both start
  // with copies of state 0's clusters 0-15.
  t = s;
  std::fill(&t[2][384 * 512], &t[2][512 * 512], 0);
  std::copy(&s[0][0], &s[0][16 * 512], &t[2][384 * 512]);
  std::copy(&s[0][0], &s[0][16 * 512], &t[2][448 * 512]);
  MultiWriterStats st;
  file = Write(t, false, &st, false);
  EXPECT_EQ(st.equal_l2_tables, 1u);
  EXPECT_EQ(names(file), (Names{"current", "snap2", "snap1"}));
  EXPECT_EQ(ReadState(file, ""), t[2]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
}

TEST(Qcow2MultiWriterTest, Deterministic) {
  auto states = MakeStates();
  EXPECT_EQ(Write(states, false, nullptr), Write(states, false, nullptr));
  EXPECT_EQ(Write(states, true, nullptr), Write(states, true, nullptr));
}

TEST(Qcow2MultiWriterTest, SingleStateAndEmptyStates) {
  std::vector<Image> one(1, Image(64 << 10, 0));
  Fill(&one[0], 512, 4096, 9);
  Image file = Write(one, false, nullptr);
  EXPECT_EQ(ReadState(file, "0"), one[0]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
  std::vector<Image> empty(2, Image(64 << 10, 0));
  file = Write(empty, false, nullptr);
  EXPECT_EQ(ReadState(file, "1"), empty[0]);
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
}

TEST(Qcow2MultiWriterTest, RefusesMisuse) {
  io::MemFile out("x");
  MultiWriterOptions o;
  o.cluster_bits = 12;
  auto w = Qcow2MultiWriter::Create(&out, o);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->Finish().ok());  // no state
  StateInfo info;
  info.id_str = "1";
  info.virtual_size = 1 << 20;
  auto t = (*w)->BeginState(info);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*w)->BeginState(info).ok());  // first not finished
  ASSERT_OK((*t)->Finish());
  EXPECT_FALSE((*w)->BeginState(info).ok());  // duplicate ID
  EXPECT_FALSE((*w)->SetCompressionType(kCompressionZstd).ok());  // late
}

}  // namespace
}  // namespace e2q::qcow2

namespace e2q::qcow2 {
namespace {

// States of different sizes (a filesystem grown or shrunk between
// snapshots): each snapshot records its own disk size; qemu reads every
// snapshot with the active layer's size, zeros past the snapshot's end.
TEST(Qcow2MultiWriterTest, StatesOfDifferentSizes) {
  std::vector<Image> states(3);
  states[0].assign(256 << 10, 0);
  Fill(&states[0], 0, 250 << 10, 11);
  states[1].assign(states[0].begin(), states[0].begin() + (96 << 10));
  Fill(&states[1], 1000, 100, 12);
  states[2] = states[0];
  states[2].resize(320 << 10, 0);
  Fill(&states[2], 300 << 10, 4096, 13);
  Image file = Write(states, false, nullptr);
  auto r = Qcow2Reader::Open(std::make_unique<io::MemFile>("m", file));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->snapshots()[1].disk_size, 96u << 10);
  EXPECT_EQ((*r)->snapshots()[2].disk_size, 256u << 10);
  for (int i = 0; i < 3; ++i) {
    Image want = states[i];
    want.resize(320 << 10, 0);
    EXPECT_EQ(ReadState(file, i == 2 ? "0" : std::to_string(i + 1)), want)
        << "state " << i;
  }
  if (HaveQemuImg()) {
    EXPECT_EQ(QemuCheck(file), 0);
  }
}

}  // namespace
}  // namespace e2q::qcow2
