// Base filesystem and next3 scaffolding (see setup.h).
#include "tests/tools/next3gen/setup.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/gen.h"

namespace n3g {
namespace {

std::string Uuid(uint64_t a, uint64_t b) {
  char s[40];
  snprintf(s, sizeof s, "%08x-%04x-%04x-%04x-%012llx", uint32_t(a >> 32),
           uint32_t(a >> 16) & 0xffff, (uint32_t(a) & 0x0fff) | 0x4000,
           (uint32_t(b >> 48) & 0x3fff) | 0x8000,
           (unsigned long long)(b & 0xffffffffffffull));
  return s;
}

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void MakeBaseFs(const std::string& path, uint64_t blocks, uint32_t inodes,
                uint64_t seed, long time) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0 || ftruncate(fd, off_t(blocks * kBlockSize)) != 0)
    Die(path + ": create: " + strerror(errno));
  close(fd);
  std::string uuid = Uuid(Mix(seed), Mix(seed + 1));
  std::string hash = Uuid(Mix(seed + 2), Mix(seed + 3));
  std::string log = path + ".mke2fs-log";
  std::vector<std::string> args = {
      "mke2fs",
      "-q",
      "-F",
      "-b",
      "4096",
      "-I",
      "128",
      "-N",
      std::to_string(inodes),
      "-m",
      "0",
      "-g",
      "32768",
      "-O",
      "none,has_journal,ext_attr,resize_inode,dir_index,filetype,"
      "sparse_super,large_file",
      "-J",
      "size=4",
      "-U",
      uuid,
      "-E",
      "hash_seed=" + hash + ",lazy_itable_init=0,root_owner=0:0",
      path,
      std::to_string(blocks)};
  pid_t pid = fork();
  if (pid < 0) Die("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    int out = open(log.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    // No profile: every option that matters is on the command line.
    setenv("MKE2FS_CONFIG", "/dev/null", 1);
    setenv("E2FSPROGS_FAKE_TIME", std::to_string(time).c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp("mke2fs", argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    Die("mke2fs failed: " + ss.str());
  }
  unlink(log.c_str());
}

namespace {

// The next3 exclude inode: DIND -> IND blocks for every group the fs could
// grow to, IND[g % 1024] -> one zeroed bitmap block per existing group.
void MakeExcludeInode(Gen& gen) {
  ext2_filsys fs = gen.fs;
  uint32_t groups = gen.Groups();
  uint64_t desc_per_block = kBlockSize / EXT2_DESC_SIZE(fs->super);
  uint64_t max_groups =
      (fs->desc_blocks + fs->super->s_reserved_gdt_blocks) * desc_per_block;
  uint64_t nind = (max_groups + 1023) / 1024;
  ext2_inode ino{};
  ino.i_mode = LINUX_S_IFREG | 0600;
  ino.i_links_count = 1;
  ino.i_atime = ino.i_ctime = ino.i_mtime = uint32_t(gen.now);
  uint64_t size = (uint64_t(groups) + kShift) * kBlockSize;
  ino.i_size = uint32_t(size);
  ino.i_size_high = uint32_t(size >> 32);
  uint64_t dind = gen.AllocBlock(gen.BlockBitmap(0), false);
  std::vector<uint32_t> dptr(1024, 0);
  std::vector<std::vector<uint32_t>> iptr(nind, std::vector<uint32_t>(1024));
  std::vector<uint64_t> ind(nind);
  for (uint64_t j = 0; j < nind; j++) {
    ind[j] = gen.AllocBlock(gen.BlockBitmap(0), false);
    dptr[j] = uint32_t(ind[j]);
  }
  gen.exclbm_block.assign(groups, 0);
  Block zero{};
  for (uint32_t g = 0; g < groups; g++) {
    uint64_t b = gen.AllocBlock(gen.BlockBitmap(g), false);
    Block old;  // free blocks of a new image are holes: keep them so
    gen.ReadRaw(b, old.data());
    if (old != zero) gen.Write(b, zero.data());
    gen.exclbm_block[g] = b;
    gen.exclbm_set.insert(b);
    iptr[g / 1024][g % 1024] = uint32_t(b);
  }
  for (uint64_t j = 0; j < nind; j++) gen.Write(ind[j], iptr[j].data());
  gen.Write(dind, dptr.data());
  ino.i_block[EXT2_DIND_BLOCK] = uint32_t(dind);
  ino.i_blocks = uint32_t(8 * (1 + nind + groups));
  Check(ext2fs_write_new_inode(fs, kExcludeIno, &ino), "write exclude inode");
  fs->super->s_feature_compat |= kCompatExcludeInode;
}

// The ext4-snapshots location: bg_exclude_bitmap_lo of every descriptor
// (32-byte descriptors here: no _hi half).  Without an exclude inode the
// bitmap blocks are group tables of their own, allocated near the group's
// block bitmap as the later forks' mke2fs does (alloc_tables.c).
void NameInDescriptors(Gen& gen) {
  ext2_filsys fs = gen.fs;
  uint32_t groups = gen.Groups();
  if (gen.exclbm_block.empty()) {
    gen.exclbm_block.assign(groups, 0);
    Block zero{};
    for (uint32_t g = 0; g < groups; g++) {
      uint64_t b = gen.AllocBlock(gen.BlockBitmap(g), false);
      gen.Write(b, zero.data());
      gen.exclbm_block[g] = b;
      gen.exclbm_set.insert(b);
    }
  }
  for (uint32_t g = 0; g < groups; g++) {
    ext2fs_group_desc(fs, fs->group_desc, g)->bg_exclude_bitmap_lo =
        uint32_t(gen.exclbm_block[g]);
    ext2fs_group_desc_csum_set(fs, g);
  }
  fs->super->s_feature_compat |= kCompatExcludeBitmap;
}

}  // namespace

void SetupNext3(Gen& gen) {
  ext2_filsys fs = gen.fs;
  gen.excl.clear();
  if (gen.exclude_at != ExcludeAt::kGdt) MakeExcludeInode(gen);
  if (gen.exclude_at != ExcludeAt::kInode) NameInDescriptors(gen);

  // /.snapshots: a directory whose SNAPFILE flag new children inherit.
  Check(ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, ".snapshots"), "mkdir .snapshots");
  ext2_ino_t dir = 0;
  Check(ext2fs_lookup(fs, EXT2_ROOT_INO, ".snapshots", 10, nullptr, &dir),
        "lookup .snapshots");
  ext2_inode d{};
  Check(ext2fs_read_inode(fs, dir, &d), "read .snapshots");
  d.i_flags |= kSnapFileFl | kNoDumpFl;
  Check(ext2fs_write_inode(fs, dir, &d), "write .snapshots");
  gen.snapdir = dir;
  ext2fs_mark_super_dirty(fs);
}

}  // namespace n3g
