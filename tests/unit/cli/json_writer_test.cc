// Tests for e2qimage/json_writer: the layout (qemu-img's indentation) and
// the string rule (escapes, control characters, invalid UTF-8 -> U+FFFD).
#include "e2qimage/json_writer.h"

#include <gtest/gtest.h>

namespace e2q::cli {
namespace {

TEST(JsonWriterTest, EscapesAndControlCharacters) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c/"), "\"a\\\"b\\\\c/\"");
  EXPECT_EQ(JsonString("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\x00", 3)),
            "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(JsonString("\x7f"), "\"\x7f\"");
}

TEST(JsonWriterTest, Utf8KeptInvalidBytesReplaced) {
  // é, €, U+1F600: kept as they are.
  EXPECT_EQ(JsonString("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  const std::string kFffd = "\xef\xbf\xbd";
  // A stray continuation byte, a Latin-1 byte, a truncated sequence at the
  // end, an overlong '/', an encoded surrogate, a code point past U+10FFFF:
  // each invalid byte becomes one U+FFFD.
  EXPECT_EQ(JsonString("a\x80z"), "\"a" + kFffd + "z\"");
  EXPECT_EQ(JsonString("\xe9t\xe9"), "\"" + kFffd + "t" + kFffd + "\"");
  EXPECT_EQ(JsonString("x\xe2\x82"), "\"x" + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"" + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"),
            "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
}

TEST(JsonWriterTest, LayoutAsQemuImg) {
  JsonWriter w;
  w.BeginObject();
  w.Key("virtual-size").Uint(1048576);
  w.Key("list").BeginArray();
  w.BeginObject().Key("id").String("1").Key("n").Int(-2).EndObject();
  w.Bool(false);
  w.EndArray();
  w.Key("empty").BeginArray().EndArray();
  w.Key("none").Null();
  w.Key("obj").BeginObject().EndObject();
  w.EndObject();
  EXPECT_EQ(w.text(),
            "{\n"
            "    \"virtual-size\": 1048576,\n"
            "    \"list\": [\n"
            "        {\n"
            "            \"id\": \"1\",\n"
            "            \"n\": -2\n"
            "        },\n"
            "        false\n"
            "    ],\n"
            "    \"empty\": [],\n"
            "    \"none\": null,\n"
            "    \"obj\": {}\n"
            "}\n");
}

}  // namespace
}  // namespace e2q::cli
