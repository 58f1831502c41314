// Next3: wiring the list, maps, exclude bitmap, read-through and
// normalisation together over one live filesystem.
#include "snapshot/next3.h"

#include "lib/io/patched_file.h"
#include "snapshot/next3_exclude.h"
#include "snapshot/next3_ext2.h"
#include "snapshot/next3_image.h"
#include "snapshot/next3_map.h"
#include "snapshot/next3_path.h"

namespace e2q::snapshot {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

Status CheckGeometry(const ext4::Filesystem& fs) {
  const ext2_filsys f = fs.raw();
  const std::string what = fs.name() + ": next3 snapshots: ";
  if (fs.block_size() != kBlockSize) {
    return Status::NotSupported(what + "block size " + Num(fs.block_size()) +
                                " (next3 needs 4096-byte blocks)");
  }
  if (f->super->s_first_data_block != 0 ||
      f->super->s_blocks_per_group != kBlocksPerGroup) {
    return Status::NotSupported(what +
                                "next3 needs first data block 0 and 32768 "
                                "blocks per group");
  }
  if (fs.blocks_count() > kMaxSnapshotBlocks) {
    return Status::NotSupported(what +
                                "more blocks than a snapshot file can map");
  }
  return Status::OK();
}

}  // namespace

Next3::~Next3() = default;

Result<std::unique_ptr<Next3>> Next3::Open(io::File* device) {
  std::unique_ptr<Next3> n(new Next3);
  n->device_ = device;
  ext4::Filesystem::OpenOptions fo;
  // The snapshot fields live in the primary superblock only: a backup
  // would show a stale list.
  fo.fall_back_to_backup = false;
  E2Q_ASSIGN_OR_RETURN(n->fs_, ext4::Filesystem::Open(device, fo));
  const ext4::Filesystem& fs = *n->fs_;
  const ext2_filsys f = fs.raw();
  n->has_snapshot_ =
      (f->super->s_feature_ro_compat & kRoCompatHasSnapshot) != 0;
  n->needs_recovery_ = ext2fs_has_feature_journal_needs_recovery(f->super);
  if (!n->has_snapshot_) return n;  // the kernel ignores the list then
  E2Q_RETURN_IF_ERROR(CheckGeometry(fs));

  ListHead head;
  head.list = f->super->s_snapshot_list;
  head.active = f->super->s_snapshot_inum;
  head.inodes_count = f->super->s_inodes_count;
  head.first_ino = EXT2_FIRST_INO(f->super);
  head.fs_blocks_count = fs.blocks_count();
  E2Q_ASSIGN_OR_RETURN(
      n->list_, ReadSnapshotList(device->name(), head, [&](uint32_t ino) {
        return ReadNext3Inode(fs, ino);
      }));

  std::vector<uint32_t> linked;
  for (const ListedSnapshot& s : n->list_) {
    if (s.inode.links_count > 0) linked.push_back(s.info.inode);
  }
  std::map<uint32_t, std::string> paths =
      FindPaths(fs, linked, &n->warnings_);
  for (ListedSnapshot& s : n->list_) {
    auto it = paths.find(s.info.inode);
    if (it != paths.end()) s.info.path = it->second;
    n->infos_.push_back(s.info);
  }
  n->metadata_ = FixedMetadataBlocks(fs);
  return n;
}

Result<size_t> Next3::IndexOf(uint32_t id) const {
  for (size_t i = 0; i < list_.size(); ++i) {
    if (list_[i].info.id == id) return i;
  }
  if (!has_snapshot_) {
    return Status::NotFound(device_->name() +
                            ": not a next3 filesystem with snapshots (no "
                            "has_snapshot feature)");
  }
  return Status::NotFound(device_->name() + ": snapshot " + Num(id) +
                          ": no snapshot with this ID on the snapshot list");
}

Result<const SnapshotInfo*> Next3::Find(uint32_t id) const {
  E2Q_ASSIGN_OR_RETURN(size_t i, IndexOf(id));
  return &infos_[i];
}

Result<std::shared_ptr<const SnapshotMap>> Next3::MapOf(size_t index) const {
  auto it = maps_.find(index);
  if (it != maps_.end()) return it->second;
  const ListedSnapshot& s = list_[index];
  MapLimits limits;
  limits.fs_blocks = fs_->blocks_count();
  limits.image_blocks = s.info.blocks_count;
  limits.reserved = &metadata_;
  const std::string context = device_->name() + ": snapshot " + Num(s.info.id) +
                              " (inode " + Num(s.info.inode) + ")";
  E2Q_ASSIGN_OR_RETURN(SnapshotMap map, ReadSnapshotMap(device_, context,
                                                        s.inode.block, limits));
  auto shared = std::make_shared<const SnapshotMap>(std::move(map));
  maps_.emplace(index, shared);
  return shared;
}

Result<std::shared_ptr<const ExcludeBitmap>> Next3::Exclude() const {
  if (exclude_ != nullptr) return exclude_;
  const ext2_filsys f = fs_->raw();
  auto exclude = std::make_shared<ExcludeBitmap>();
  const uint32_t compat = f->super->s_feature_compat;
  if (compat & kCompatExcludeBitmap) {
    std::vector<uint64_t> locs = ExcludeBitmapLocations(*fs_);
    for (size_t g = 0; g < locs.size(); ++g) {
      if (locs[g] != 0 &&
          (locs[g] >= fs_->blocks_count() || metadata_.Contains(locs[g]))) {
        return Status::Corruption(device_->name() + ": group " + Num(g) +
                                  ": bg_exclude_bitmap " + Num(locs[g]) +
                                  " is not a usable block");
      }
    }
    *exclude = ExcludeBitmap(std::move(locs));
  } else if (compat & kCompatExcludeInode) {
    E2Q_ASSIGN_OR_RETURN(Next3Inode ino9, ReadNext3Inode(*fs_, kExcludeIno));
    MapLimits limits;
    limits.fs_blocks = fs_->blocks_count();
    limits.reserved = &metadata_;
    E2Q_ASSIGN_OR_RETURN(
        *exclude, ExcludeBitmap::FromExcludeInode(
                      device_, device_->name() + ": exclude inode 9", ino9,
                      f->group_desc_count, limits));
  }
  exclude_ = std::move(exclude);
  return exclude_;
}

std::string Next3::RecoveryWarning() {
  return "the filesystem needs journal recovery; snapshot blocks still in "
         "the journal are not seen (replay it first, e.g. e2fsck -E "
         "journal_only)";
}

Result<std::unique_ptr<io::File>> Next3::OpenRawImage(uint32_t id) const {
  E2Q_ASSIGN_OR_RETURN(size_t index, IndexOf(id));
  const SnapshotInfo& info = list_[index].info;
  if (info.state == SnapshotState::kDeleted) {
    return Status::InvalidArgument(
        device_->name() + ": snapshot " + Num(id) +
        ": deleted snapshots cannot be exported (next3 no longer shows "
        "their image; only active and frozen snapshots can be)");
  }
  if (info.state == SnapshotState::kShrunk) {
    return Status::InvalidArgument(
        device_->name() + ": snapshot " + Num(id) +
        ": shrunk snapshots cannot be exported (their image is incomplete; "
        "only active and frozen snapshots can be)");
  }
  const std::string name = device_->name() + ": snapshot " + Num(id);
  std::lock_guard<std::mutex> lock(mu_);
  // The chain: this snapshot, then each newer one up to the active one
  // (list_[0]).  Deleted and shrunk snapshots in between take part.
  std::vector<std::shared_ptr<const SnapshotMap>> chain;
  for (size_t i = index + 1; i-- > 0;) {
    E2Q_ASSIGN_OR_RETURN(std::shared_ptr<const SnapshotMap> map, MapOf(i));
    chain.push_back(std::move(map));
  }
  E2Q_ASSIGN_OR_RETURN(std::shared_ptr<const ExcludeBitmap> exclude, Exclude());
  if (live_ == nullptr) {
    auto live = std::make_shared<LiveLayout>();
    live->blocks_count = fs_->blocks_count();
    live->block_bitmaps = BlockBitmapLocations(*fs_);
    live_ = std::move(live);
  }
  std::shared_ptr<const LiveLayout> live = live_;

  auto image = std::make_unique<ReadThroughFile>(
      name, device_, std::move(chain), std::move(live), std::move(exclude),
      info.blocks_count);
  return std::unique_ptr<io::File>(std::move(image));
}

Result<Normalisation> Next3::NormalisationOf(uint32_t id) const {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> raw, OpenRawImage(id));
  E2Q_ASSIGN_OR_RETURN(const SnapshotInfo* info, Find(id));
  return Normalise(raw.get(), info->blocks_count, info->inode);
}

Result<std::unique_ptr<io::File>> Next3::OpenImage(uint32_t id) const {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> raw, OpenRawImage(id));
  E2Q_ASSIGN_OR_RETURN(const SnapshotInfo* info, Find(id));
  E2Q_ASSIGN_OR_RETURN(Normalisation n,
                       Normalise(raw.get(), info->blocks_count, info->inode));
  E2Q_ASSIGN_OR_RETURN(
      std::unique_ptr<io::PatchedFile> patched,
      io::PatchedFile::Create(std::move(raw), std::move(n.patches)));
  return std::unique_ptr<io::File>(std::move(patched));
}

}  // namespace e2q::snapshot
