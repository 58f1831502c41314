// TestImage: builds small qcow2 images byte by byte for the reader tests,
// independently of the project's writer, so that each kind of entry (and
// each kind of damage) can be placed exactly.  Refcounts are not
// maintained: the reader does not use them.
#ifndef E2Q_TESTS_UNIT_QCOW2_TEST_IMAGE_H_
#define E2Q_TESTS_UNIT_QCOW2_TEST_IMAGE_H_

#include <zlib.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_snapshot_table.h"

namespace e2q::qcow2 {

class TestImage {
 public:
  // Cluster 0 header, 1 refcount table, 2 refcount block, then the L1
  // table; everything else is appended.
  TestImage(uint32_t cluster_bits, uint64_t size, uint32_t version = 3) {
    h_.version = version;
    h_.cluster_bits = cluster_bits;
    h_.size = size;
    const uint64_t per_l1 = L2Entries(cluster_bits) << cluster_bits;
    l1_.assign((size + per_l1 - 1) / per_l1, 0);
    shared_.assign(l1_.size(), false);
    img_.assign(3 * cs(), 0);
    h_.refcount_table_offset = cs();
    h_.refcount_table_clusters = 1;
    StoreBE64(&img_[cs()], 2 * cs());
    h_.l1_size = static_cast<uint32_t>(l1_.size());
    h_.l1_table_offset = Alloc((l1_.size() * 8 + cs() - 1) / cs() + 1);
  }

  uint64_t cs() const { return uint64_t{1} << h_.cluster_bits; }
  Header& header() { return h_; }
  std::vector<uint64_t>& l1() { return l1_; }
  std::vector<uint8_t>& bytes() { return img_; }

  // Appends `n` zeroed clusters; returns the first one's offset.
  uint64_t Alloc(uint64_t n = 1) {
    uint64_t off = (img_.size() + cs() - 1) / cs() * cs();
    img_.resize(off + n * cs(), 0);
    return off;
  }

  // The L2 table for guest cluster `gc` (allocated, or copied if a
  // snapshot shares it).
  uint64_t L2For(uint64_t gc) {
    uint64_t i = gc / L2Entries(h_.cluster_bits);
    if (l1_[i] == 0 || shared_[i]) {
      uint64_t t = Alloc();
      if (l1_[i] != 0) std::memcpy(&img_[t], &img_[l1_[i]], cs());
      l1_[i] = t;
      shared_[i] = false;
    }
    return l1_[i];
  }
  void SetEntry(uint64_t gc, uint64_t entry) {
    uint64_t t = L2For(gc);
    StoreBE64(&img_[t + (gc % L2Entries(h_.cluster_bits)) * 8], entry);
  }
  uint64_t GetEntry(uint64_t gc) {
    uint64_t t = l1_[gc / L2Entries(h_.cluster_bits)];
    return LoadBE64(&img_[t + (gc % L2Entries(h_.cluster_bits)) * 8]);
  }

  // A normal cluster filled with `fill`; returns its host offset.
  uint64_t AddData(uint64_t gc, uint8_t fill) {
    return AddData(gc, std::vector<uint8_t>(cs(), fill));
  }
  uint64_t AddData(uint64_t gc, const std::vector<uint8_t>& data) {
    uint64_t off = Alloc();
    std::memcpy(&img_[off], data.data(), cs());
    SetEntry(gc, off | kOflagCopied);
    return off;
  }
  // A zero cluster (ZERO_ALLOC when `alloc`).
  void AddZero(uint64_t gc, bool alloc = false) {
    SetEntry(gc, (alloc ? Alloc() | kOflagCopied : 0) | kOflagZero);
  }
  // A deflate-compressed cluster packed at byte `skew` of a new cluster;
  // returns the entry.
  uint64_t AddCompressed(uint64_t gc, const std::vector<uint8_t>& data,
                         uint64_t skew = 0) {
    std::vector<uint8_t> z = Deflate(data);
    uint64_t off = Alloc(2) + skew;
    img_.resize(std::max<uint64_t>(img_.size(), off + z.size()));
    std::memcpy(&img_[off], z.data(), z.size());
    uint64_t e = CompressedLayout(h_.cluster_bits).Encode(off, z.size());
    SetEntry(gc, e);
    return e;
  }

  // Raw deflate with qemu's 4 KiB window.
  static std::vector<uint8_t> Deflate(const std::vector<uint8_t>& in) {
    z_stream s{};
    deflateInit2(&s, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY);
    std::vector<uint8_t> out(in.size() + 1024);
    s.next_in = const_cast<uint8_t*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    deflate(&s, Z_FINISH);
    out.resize(s.total_out);
    deflateEnd(&s);
    return out;
  }

  // Copies the active L1 into a snapshot; later writes copy shared L2s.
  void AddSnapshot(const std::string& id, const std::string& name) {
    SnapshotEntry e;
    e.id_str = id;
    e.name = name;
    e.l1_size = static_cast<uint32_t>(l1_.size());
    e.l1_table_offset = Alloc((l1_.size() * 8 + cs() - 1) / cs() + 1);
    for (size_t i = 0; i < l1_.size(); ++i) {
      StoreBE64(&img_[e.l1_table_offset + i * 8], l1_[i]);
    }
    e.disk_size = h_.size;
    snaps_.push_back(e);
    shared_.assign(l1_.size(), true);
  }

  // Writes the L1 table, the snapshot table and the header.
  std::vector<uint8_t> Build() {
    for (size_t i = 0; i < l1_.size(); ++i) {
      StoreBE64(&img_[h_.l1_table_offset + i * 8],
                l1_[i] == 0 ? 0 : l1_[i] | (shared_[i] ? 0 : kOflagCopied));
    }
    if (!snaps_.empty()) {
      std::vector<uint8_t> t = EncodeSnapshotTable(snaps_).value();
      h_.snapshots_offset = Alloc((t.size() + cs() - 1) / cs());
      std::memcpy(&img_[h_.snapshots_offset], t.data(), t.size());
      h_.nb_snapshots = static_cast<uint32_t>(snaps_.size());
    }
    std::vector<uint8_t> c0;
    Status s = h_.EncodeTo(&c0);
    if (!s.ok()) abort();
    std::memcpy(img_.data(), c0.data(), cs());
    return img_;
  }
  std::unique_ptr<io::File> BuildFile(const std::string& name) {
    return std::make_unique<io::MemFile>(name, Build());
  }

 private:
  Header h_;
  std::vector<uint64_t> l1_;
  std::vector<bool> shared_;
  std::vector<uint8_t> img_;
  std::vector<SnapshotEntry> snaps_;
};

}  // namespace e2q::qcow2

#endif  // E2Q_TESTS_UNIT_QCOW2_TEST_IMAGE_H_
