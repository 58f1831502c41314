// JsonWriter: builds the --output=json text of --info, --verify and -L in
// qemu-img's layout (one object, four-space indentation, "key": value).
// Strings are written as valid UTF-8: '"', '\\' and control characters are
// escaped (\n, \t, ... or \u00XX) and every byte that is not part of a
// well-formed UTF-8 sequence (a label is raw superblock bytes) becomes
// U+FFFD, so any JSON parser reads the result.
#ifndef E2Q_E2QIMAGE_JSON_WRITER_H_
#define E2Q_E2QIMAGE_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace e2q::cli {

// `s` as a JSON string literal, quotes included, by the rule above.
std::string JsonString(const std::string& s);

class JsonWriter {
 public:
  // Members of the current object take a key first; array elements do not.
  JsonWriter& Key(const std::string& key);
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& String(const std::string& s);
  JsonWriter& Uint(uint64_t v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();

  // The text so far, with a final newline once the outer value is closed.
  const std::string& text() const { return out_; }

 private:
  // Separator, newline and indentation before a value or a key.
  void Prefix();
  void Scalar(const std::string& literal);

  std::string out_;
  // Per open container: whether it has members yet.
  std::vector<bool> has_members_;
  bool after_key_ = false;
};

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_JSON_WRITER_H_
