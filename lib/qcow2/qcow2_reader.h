// Qcow2Reader: reads the guest content of a qcow2 image (version 2 or 3, as
// qemu-img 7.2 writes them): normal, zero, unallocated and compressed
// (deflate or zstd) clusters, extended L2 entries (subclusters), internal
// snapshots, backing chains of raw and qcow2 files, and external data
// files (the data_file header extension, raw or not).  Encrypted images
// are refused, except for describing their layout.
//
// Every on-disk field is validated before it is used, in the spirit of
// qemu's qcow2_validate_table: malformed input yields kCorruption naming
// the file and the defect, never a crash, and memory is bounded by the
// file's size and qemu's limits.  Reads coalesce host-contiguous clusters
// into single large reads; L2 tables are held in a small LRU cache; Map()
// reports zero stretches so a converter can skip them unread.
#ifndef E2Q_LIB_QCOW2_QCOW2_READER_H_
#define E2Q_LIB_QCOW2_QCOW2_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_format.h"
#include "lib/qcow2/qcow2_snapshot_table.h"

namespace e2q::qcow2 {

class BatchDecompressor;
class L2Cache;

// A backing chain longer than this is refused (qemu has no fixed limit, but
// a deeper chain is far more likely a loop through differently spelled
// names than a real image).
constexpr uint32_t kMaxBackingDepth = 64;

class Qcow2Reader {
 public:
  using FileOpener =
      std::function<Result<std::unique_ptr<io::File>>(const std::string& path)>;

  struct OpenOptions {
    // Opens backing files (default: OpenFileForRead).  Tests pass a lookup
    // into in-memory files.
    FileOpener open_file;
    // Follow the backing file; when false, unallocated clusters read as
    // zeros as if there were none.
    bool open_backing = true;
    // Budget for cached L2 tables of this image (at least two tables are
    // always kept).  Backing files get a quarter of it each.
    size_t l2_cache_bytes = 8u << 20;
    // Threads that decompress compressed clusters (0 = one per CPU).
    unsigned decompress_threads = 0;
    // Open the tables only, for describing the image: an encrypted image
    // is accepted and an external data file is not opened; Map() and
    // CountClusters() work, Read() fails.
    bool layout_only = false;
  };

  enum class ExtentKind {
    kData,  // stored content somewhere in the chain (may still be zeros)
    kZero,  // zero cluster, or unallocated in the whole chain
  };
  struct Extent {
    uint64_t len = 0;
    ExtentKind kind = ExtentKind::kZero;
  };

  // True when `file` starts with the qcow2 magic (any version); a file too
  // short for one is not qcow2.  An I/O error is returned as such, so that
  // a failing disk is not reported as "not a qcow2 image".
  static Result<bool> IsQcow2(io::File* file);

  // Opens the image in `file` and, recursively, its backing chain.  The
  // reader owns `file` and the backing files.
  static Result<std::unique_ptr<Qcow2Reader>> Open(
      std::unique_ptr<io::File> file, const OpenOptions& options);
  static Result<std::unique_ptr<Qcow2Reader>> Open(
      std::unique_ptr<io::File> file) {
    return Open(std::move(file), OpenOptions());
  }
  ~Qcow2Reader();
  Qcow2Reader(const Qcow2Reader&) = delete;
  Qcow2Reader& operator=(const Qcow2Reader&) = delete;

  const Header& header() const { return header_; }
  const std::string& name() const { return file_->name(); }
  // Guest size in bytes (the header's current size, also after
  // SelectSnapshot(), as qemu-img convert -l does).
  uint64_t virtual_size() const { return header_.size; }
  const std::vector<SnapshotEntry>& snapshots() const { return snapshots_; }
  // The backing file's path as resolved ("" without one) and format.
  const std::string& backing_path() const { return backing_path_; }
  const std::string& backing_format() const { return backing_format_; }
  // The qcow2 backing image, if the backing file is qcow2.
  Qcow2Reader* backing_qcow2() { return backing_qcow2_.get(); }
  // The external data file's path as resolved (relative names against the
  // image's directory), "" when the image has none or it was not opened.
  // Normal clusters are read from it at their host offsets.
  const std::string& data_file_path() const { return data_file_path_; }

  // Makes reads see internal snapshot `id_or_name` (matched by ID first,
  // then by name) instead of the active layer.  kNotFound if none matches.
  Status SelectSnapshot(const std::string& id_or_name);
  // The same for snapshots()[index] (index must be in range).
  Status SelectSnapshotAt(size_t index);

  // Reads guest bytes [offset, offset + len), which must lie within
  // virtual_size().
  Status Read(uint64_t offset, void* buf, size_t len);

  // The longest stretch starting at `offset`, at most `max_len` bytes and
  // not past virtual_size(), whose bytes are all of one kind.
  Result<Extent> Map(uint64_t offset, uint64_t max_len);

  // What this file itself (not its backing chain) stores for the selected
  // layer: the longest stretch from `offset` (at most `max_len`, not past
  // virtual_size()) of one kind -- kData for normal and compressed
  // clusters, kZero for zero clusters, kNotStored where the clusters are
  // unallocated (they read through to the backing file, or as zeros).  The
  // clusters an overlay replaces are its kData and kZero stretches.
  enum class StoredKind { kData, kZero, kNotStored };
  struct StoredExtent {
    uint64_t len = 0;
    StoredKind kind = StoredKind::kNotStored;
  };
  Result<StoredExtent> MapStored(uint64_t offset, uint64_t max_len);

  // How the guest clusters of the selected layer are stored in this file
  // (not its backing files), by their L2 entries: `data` normal clusters,
  // `compressed`, `zero` (zero flag, preallocated or not), `unallocated`
  // (read from the backing file, or zeros).  A partial last cluster counts.
  // With extended L2 entries a cluster counts once for each kind of
  // subcluster it holds.
  struct ClusterCounts {
    uint64_t total = 0;
    uint64_t data = 0;
    uint64_t compressed = 0;
    uint64_t zero = 0;
    uint64_t unallocated = 0;
  };
  Result<ClusterCounts> CountClusters();

 private:
  enum class RunKind { kNormal, kCompressed, kZero, kUnallocated };
  // A stretch of guest clusters with the same kind of L2 entry; for kNormal
  // the host clusters are contiguous from `host`, for kCompressed `host` is
  // the L2 entry (one cluster).
  struct Run {
    RunKind kind;
    uint64_t len;
    uint64_t host;
  };

  Qcow2Reader(std::unique_ptr<io::File> file, Header header,
              uint64_t file_size);
  Status LoadL1(uint64_t offset, uint32_t entries, const std::string& what);
  Status OpenBacking(const OpenOptions& options, uint32_t depth,
                     std::vector<std::string>* chain);
  Status OpenDataFile(const OpenOptions& options, const std::string& data_file);
  static Result<std::unique_ptr<Qcow2Reader>> OpenInternal(
      std::unique_ptr<io::File> file, const OpenOptions& options,
      uint32_t depth, std::vector<std::string>* chain);

  Status Corrupt(const std::string& why) const;
  Result<const uint64_t*> GetL2(uint64_t l1_index);
  Result<Run> Lookup(uint64_t offset, uint64_t max_len);
  Status ReadHost(uint64_t host, uint8_t* buf, size_t len);
  // A pending read of part of a compressed cluster into a caller's buffer.
  struct CompressedRead {
    uint64_t entry;       // the L2 entry
    uint64_t in_cluster;  // first byte wanted
    uint8_t* buf;
    size_t len;
  };
  // Performs and clears `reads`: one read per stretch of neighbouring
  // compressed data, decompression on several threads.
  Status ReadCompressed(std::vector<CompressedRead>* reads);
  Status ReadBacking(uint64_t offset, uint8_t* buf, size_t len);
  Result<Extent> MapBacking(uint64_t offset, uint64_t max_len);

  std::unique_ptr<io::File> file_;
  Header header_;
  uint64_t file_size_;
  bool extended_l2_ = false;  // 128-bit L2 entries with subclusters
  bool encrypted_ = false;    // opened with layout_only
  bool has_data_file_ = false;
  std::unique_ptr<io::File> data_file_;  // null when not opened
  std::string data_file_path_;
  std::vector<uint64_t> l1_;
  std::vector<SnapshotEntry> snapshots_;
  std::unique_ptr<L2Cache> l2_cache_;
  std::unique_ptr<BatchDecompressor> decompressor_;
  // The most recently decompressed cluster, for reads that split one.
  std::vector<uint8_t> cbuf_;
  uint64_t cbuf_entry_ = 0;
  bool cbuf_valid_ = false;

  std::string backing_path_;
  std::string backing_format_;
  std::unique_ptr<Qcow2Reader> backing_qcow2_;
  std::unique_ptr<io::File> backing_raw_;
  uint64_t backing_size_ = 0;
};

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_READER_H_
