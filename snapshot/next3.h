// Next3: the snapshots of a next3 filesystem and their images.  Open()
// reads the list (snapshot/next3_list.h) and the snapshot files' names;
// OpenImage() reads the block maps of the read-through chain and the
// exclude bitmap, and returns the normalised image of one snapshot as a
// read-only File that the export pipeline reads like a device.  See
// doc/next3.md.
#ifndef E2Q_SNAPSHOT_NEXT3_H_
#define E2Q_SNAPSHOT_NEXT3_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/io/file.h"
#include "snapshot/next3_exclude.h"
#include "snapshot/next3_image.h"
#include "snapshot/next3_list.h"
#include "snapshot/next3_map.h"
#include "snapshot/next3_normalise.h"

namespace e2q::snapshot {

class Next3 {
 public:
  // Opens the filesystem on `device` (not owned; must outlive the result)
  // read-only and reads its snapshot list.  A filesystem without the
  // has_snapshot feature opens with no snapshots.  With has_snapshot,
  // geometry next3 cannot have (block size other than 4096, a first data
  // block other than 0, other than 32768 blocks per group) is
  // kNotSupported, and a damaged list is kCorruption naming the inode and
  // the problem.
  static Result<std::unique_ptr<Next3>> Open(io::File* device);
  ~Next3();

  // True if the filesystem has the has_snapshot feature.
  bool has_snapshot() const { return has_snapshot_; }
  // True if the live filesystem needs journal recovery: next3 writes
  // snapshot copies through the journal, so until it is replayed some
  // snapshot blocks may be only in the journal and images may be wrong.
  bool needs_recovery() const { return needs_recovery_; }
  // What every reader of such a filesystem's snapshots should be told.
  static std::string RecoveryWarning();
  // The listed snapshots, newest (the active one) first.
  const std::vector<SnapshotInfo>& snapshots() const { return infos_; }
  // What Open could not read without failing (directories searched for
  // the snapshots' names).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // kNotFound if no listed snapshot has this ID.
  Result<const SnapshotInfo*> Find(uint32_t id) const;

  // The normalised image of exportable snapshot `id` (next3 read-through
  // plus the -x normalisation of snapshot/next3_normalise.h): a read-only
  // File of blocks_count * 4096 bytes, named "DEVICE: snapshot ID", whose
  // reads go to the device in large runs.  Reads are thread-safe.  The
  // result must not outlive *this.  Block maps are read once per Next3 and
  // shared between the images opened (for -X, which opens them all).  kNotFound
  // for an unknown ID, kInvalidArgument for a deleted or shrunk snapshot,
  // kCorruption for damaged maps, exclude bitmap or image metadata.
  Result<std::unique_ptr<io::File>> OpenImage(uint32_t id) const;

  // The image exactly as next3 shows it (read-through only, no
  // normalisation), same rules otherwise.
  Result<std::unique_ptr<io::File>> OpenRawImage(uint32_t id) const;

  // The normalisation OpenImage applies (what changes, what is released).
  Result<Normalisation> NormalisationOf(uint32_t id) const;

 private:
  Next3() = default;
  Result<size_t> IndexOf(uint32_t id) const;
  // The block map of list_[index] and the live exclude bitmap, each read
  // once and then shared by every image opened (the caller holds mu_).
  Result<std::shared_ptr<const SnapshotMap>> MapOf(size_t index) const;
  Result<std::shared_ptr<const ExcludeBitmap>> Exclude() const;

  io::File* device_ = nullptr;
  std::unique_ptr<ext4::Filesystem> fs_;
  bool has_snapshot_ = false;
  bool needs_recovery_ = false;
  std::vector<ListedSnapshot> list_;
  std::vector<SnapshotInfo> infos_;
  std::vector<std::string> warnings_;
  BlockSet metadata_;  // fixed metadata of the live filesystem
  // Read on first use by OpenRawImage, under mu_.
  mutable std::mutex mu_;
  mutable std::map<size_t, std::shared_ptr<const SnapshotMap>> maps_;
  mutable std::shared_ptr<const ExcludeBitmap> exclude_;
  mutable std::shared_ptr<const LiveLayout> live_;
};

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_NEXT3_H_
