// Replacement names for -s: for one directory, a deterministic sequence of
// names of requested lengths that are unique in that directory, never "."
// or "..", never contain '/' or NUL, and avoid the directory's original
// names while there is room to.  Also the replacement bytes of symlink
// targets.  No randomness: the same filesystem always scrambles the same way.
#ifndef E2Q_LIB_SCRAMBLE_SCRAMBLE_NAMES_H_
#define E2Q_LIB_SCRAMBLE_SCRAMBLE_NAMES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "lib/base/status.h"

namespace e2q::scramble {

// Names are drawn, per length, from three tiers in turn:
//   0. names over [0-9A-Za-z] (over [0-9a-z] in casefolded directories),
//      skipping original names;
//   1. when tier 0 has too few names of that length (1- and 2-byte names in
//      a crowded directory), names over every byte allowed in a name
//      (1..255 except '/'; ASCII without 'A'-'Z' when casefolded), still
//      skipping original names;
//   2. the same alphabet without skipping originals: only reached when the
//      directory holds more than half of all possible names of that length
//      (e.g. over 126 one-byte names), where some replacements must equal
//      some originals.
// Every tier skips names already handed out or reserved.  Within a tier,
// names are drawn pseudo-randomly from a stream keyed by the directory's
// inode number and a digest of its original names: a plain counter would
// show, by the values it skips, which originals look like counter values
// ("1", "2", ...), and without the inode number two directories holding
// the same names would get the same replacements.  No time or system
// randomness enters: the same filesystem always scrambles the same way.
class NameGenerator {
 public:
  // In a casefolded directory, uniqueness is judged after ASCII case folding
  // (the generated names are ASCII, so that is the folding that matters).
  // `seed` tells directories apart (their inode number).
  NameGenerator(bool casefold, uint64_t seed)
      : casefold_(casefold), seed_(seed) {}

  // Records a name of the original directory, to be avoided in tiers 0-1.
  // All originals must be added before the first Next().
  void AddOriginal(std::string_view name);
  // Records a name that stays in the directory ("lost+found"): never
  // generated.
  void Reserve(std::string_view name);
  // The next replacement of `length` bytes (1..255).  Fails only when every
  // name of that length is taken, which a valid directory cannot reach.
  Result<std::string> Next(size_t length);

 private:
  bool Free(const std::string& name, int tier) const;
  uint64_t Random();
  std::string Key(std::string_view name) const;

  bool casefold_;
  uint64_t seed_;
  uint64_t digest_ = 0;  // order-independent digest of the originals
  bool started_ = false;
  uint64_t stream_ = 0;
  std::unordered_set<std::string> originals_;
  std::unordered_set<std::string> taken_;
  std::unordered_map<size_t, int> tier_;  // first tier not yet exhausted
};

// `length` bytes from [0-9A-Za-z], a function of `seed` only (the inode
// number of a symlink).  Replacing every byte, '/' included, hides the
// shape of the path as well as its components.
std::string ScrambledSymlinkTarget(uint64_t seed, size_t length);

}  // namespace e2q::scramble

#endif  // E2Q_LIB_SCRAMBLE_SCRAMBLE_NAMES_H_
