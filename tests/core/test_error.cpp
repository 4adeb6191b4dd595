// Tests of the error helpers: printable() turns any bytes into one printable line.
#include <doctest/doctest.h>

#include <string>

#include "core/error.hpp"

using namespace memcarlo;

TEST_CASE("printable: text and valid UTF-8 pass, control characters and broken UTF-8 are escaped") {
  CHECK(printable("kind 'drift' in /a") == "kind 'drift' in /a");
  CHECK(printable("G (\xc2\xb5S), \xe2\x88\x86G, \xf0\x9f\x94\xa5") == "G (\xc2\xb5S), \xe2\x88\x86G, \xf0\x9f\x94\xa5");
  CHECK(printable("two\nlines\r\tand\x7f") == "two\\x0alines\\x0d\\x09and\\x7f");
  CHECK(printable(std::string("nul\0byte", 8)) == "nul\\x00byte");
  // a lone continuation byte, a truncated sequence, an overlong form, a surrogate, > U+10FFFF
  CHECK(printable("a\x80z") == "a\\x80z");
  CHECK(printable("a\xe2\x88") == "a\\xe2\\x88");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  CHECK(printable("") == "");
}
