#include "conf/syntax.h"

#include <glob.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "conf/values.h"

namespace pushrelay::conf {
namespace {

enum class TokenKind { Word, Semicolon, OpenBrace, CloseBrace, End };

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;  // the word, for TokenKind::Word
    int line = 0;
};

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool ends_word(char c) {
    return is_blank(c) || c == ';' || c == '{' || c == '}';
}

// nginx's escapes; any other backslash is kept, so that regexes like "\d+" survive.
void append_escaped(char c, std::string* out) {
    switch (c) {
        case 'n':
            *out += '\n';
            break;
        case 't':
            *out += '\t';
            break;
        case 'r':
            *out += '\r';
            break;
        case '"':
        case '\'':
        case '\\':
            *out += c;
            break;
        default:
            *out += '\\';
            *out += c;
    }
}

// Splits a conf text into tokens, counting lines.
class Lexer {
  public:
    Lexer(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

    MaybeError next(Token* out) {
        skip_blanks_and_comments();
        out->text.clear();
        out->line = line_;
        if (pos_ == text_.size()) {
            out->kind = TokenKind::End;
            return std::nullopt;
        }
        char c = text_[pos_];
        if (c == ';' || c == '{' || c == '}') {
            ++pos_;
            out->kind = c == ';' ? TokenKind::Semicolon
                                 : (c == '{' ? TokenKind::OpenBrace : TokenKind::CloseBrace);
            return std::nullopt;
        }
        out->kind = TokenKind::Word;
        if (c == '"' || c == '\'') {
            return read_quoted(out);
        }
        read_bare(out);
        return std::nullopt;
    }

    const std::string& file() const { return file_; }
    int line() const { return line_; }

  private:
    void skip_blanks_and_comments() {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == '#') {
                while (pos_ < text_.size() && text_[pos_] != '\n') {
                    ++pos_;
                }
            } else if (is_blank(c)) {
                line_ += c == '\n';
                ++pos_;
            } else {
                return;
            }
        }
    }

    // A char taken into a word: newlines inside quotes still count.
    char take() {
        char c = text_[pos_++];
        line_ += c == '\n';
        return c;
    }

    MaybeError read_quoted(Token* out) {
        char quote = take();
        while (true) {
            if (pos_ == text_.size()) {
                return Error{file_, out->line,
                             std::string("unterminated quoted string: no closing ") + quote +
                                 " before the end of the file"};
            }
            char c = take();
            if (c == quote) {
                break;
            }
            if (c == '\\' && pos_ < text_.size()) {
                append_escaped(take(), &out->text);
            } else {
                out->text += c;
            }
        }
        if (pos_ < text_.size() && !ends_word(text_[pos_])) {
            return Error{
                file_, line_,
                "unexpected \"" + std::string(1, text_[pos_]) + "\" after a quoted string"};
        }
        return std::nullopt;
    }

    // A bare word ends at a blank, ';', '{' or '}'; a backslash protects the next char, and a
    // "${" opens a variable name that may be followed by its '}' ("${name}text").
    void read_bare(Token* out) {
        bool in_variable_braces = false;
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            bool braces_end = in_variable_braces && c == '}';
            if (ends_word(c) && !braces_end) {
                return;
            }
            ++pos_;
            if (c == '\\' && pos_ < text_.size()) {
                append_escaped(take(), &out->text);
                continue;
            }
            out->text += c;
            if (c == '$' && pos_ < text_.size() && text_[pos_] == '{') {
                out->text += text_[pos_++];
                in_variable_braces = true;
            } else if (braces_end) {
                in_variable_braces = false;
            }
        }
    }

    std::string_view text_;
    std::string file_;
    size_t pos_ = 0;
    int line_ = 1;
};

MaybeError parse_at_depth(std::string_view text, const std::string& name,
                          const std::string& include_dir, int depth, std::vector<Statement>* out);

// The error text of a failed call on path, errno style.
std::string failed(std::string_view call, const std::string& path, int err) {
    return std::string(call) + " \"" + path + "\" failed (" + std::strerror(err) + ")";
}

// Reads the whole file at path into *out; on failure returns the reason.
std::optional<std::string> read_file(const std::string& path, std::string* out) {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) {
        return failed("open()", path, errno);
    }
    char buf[8192];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) {
        out->append(buf, n);
    }
    if (std::ferror(file.get())) {
        return failed("read()", path, errno);
    }
    return std::nullopt;
}

// glob(3)'s error callback takes no context pointer, hence a thread-local, reset before each
// glob call.
struct GlobError {
    std::string path;
    int err = 0;
};
thread_local GlobError glob_error;

int remember_glob_error(const char* path, int err) {
    glob_error = GlobError{path, err};
    return 1;
}

bool is_glob(std::string_view pattern) {
    return pattern.find_first_of("*?[") != std::string_view::npos;
}

// The files an include names, in the order they are read.
MaybeError include_paths(const Statement& include, const std::string& pattern,
                         std::vector<std::string>* paths) {
    if (!is_glob(pattern)) {
        paths->push_back(pattern);
        return std::nullopt;
    }
    glob_t matches{};
    glob_error = GlobError{};
    int rc = glob(pattern.c_str(), GLOB_ERR, remember_glob_error, &matches);
    std::unique_ptr<glob_t, void (*)(glob_t*)> guard(&matches, &globfree);
    // As nginx: a pattern may match nothing, even in a directory that does not exist.
    bool missing_directory =
        rc == GLOB_ABORTED && (glob_error.err == ENOENT || glob_error.err == ENOTDIR);
    if (rc == GLOB_NOMATCH || missing_directory) {
        return std::nullopt;
    }
    if (rc != 0) {
        return Error{include.file, include.line,
                     "glob() \"" + pattern +
                         "\" failed: " + failed("opendir()", glob_error.path, glob_error.err)};
    }
    paths->assign(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
    return std::nullopt;
}

MaybeError expand_include(const Statement& include, const std::string& include_dir, int depth,
                          std::vector<Statement>* out) {
    if (depth >= kMaxIncludeDepth) {
        return Error{include.file, include.line,
                     "includes nest deeper than " + std::to_string(kMaxIncludeDepth) +
                         " levels: does a file include itself?"};
    }
    std::vector<std::string> paths;
    if (MaybeError err =
            include_paths(include, resolve_path(include_dir, include.args[0]), &paths)) {
        return err;
    }
    for (const std::string& path : paths) {
        std::string text;
        if (auto reason = read_file(path, &text)) {
            return Error{include.file, include.line, *reason};
        }
        if (MaybeError err = parse_at_depth(text, path, include_dir, depth + 1, out)) {
            return err;
        }
    }
    return std::nullopt;
}

// Builds statements from a lexer's tokens.
class Parser {
  public:
    Parser(std::string_view text, const std::string& name, const std::string& include_dir,
           int depth)
        : lexer_(text, name), include_dir_(include_dir), depth_(depth) {}

    MaybeError parse(std::vector<Statement>* out) { return parse_block(/*nested=*/false, out); }

  private:
    // Reads statements up to the '}' closing a nested block, or to the end of the file.
    MaybeError parse_block(bool nested, std::vector<Statement>* out) {
        Token token;
        while (true) {
            if (MaybeError err = lexer_.next(&token)) {
                return err;
            }
            switch (token.kind) {
                case TokenKind::End:
                    if (nested) {
                        return error(token.line, "unexpected end of file, expecting \"}\"");
                    }
                    return std::nullopt;
                case TokenKind::CloseBrace:
                    if (nested) {
                        return std::nullopt;
                    }
                    return error(token.line, "unexpected \"}\"");
                case TokenKind::Semicolon:
                    return error(token.line, "unexpected \";\"");
                case TokenKind::OpenBrace:
                    return error(token.line, "unexpected \"{\"");
                case TokenKind::Word:
                    if (MaybeError err = parse_statement(std::move(token.text), token.line, out)) {
                        return err;
                    }
            }
        }
    }

    // Reads the arguments and the ';' or block of the statement whose name was just read.
    MaybeError parse_statement(std::string name, int line, std::vector<Statement>* out) {
        Statement st{std::move(name), {}, false, {}, lexer_.file(), line};
        Token token;
        while (true) {
            if (MaybeError err = lexer_.next(&token)) {
                return err;
            }
            switch (token.kind) {
                case TokenKind::Word:
                    st.args.push_back(std::move(token.text));
                    continue;
                case TokenKind::Semicolon:
                    return finish(std::move(st), out);
                case TokenKind::OpenBrace:
                    st.has_block = true;
                    if (MaybeError err = parse_block(/*nested=*/true, &st.block)) {
                        return err;
                    }
                    return finish(std::move(st), out);
                case TokenKind::CloseBrace:
                    return error(token.line, "unexpected \"}\"");
                case TokenKind::End:
                    return error(token.line, "unexpected end of file, expecting \";\" or \"}\"");
            }
        }
    }

    // A well-formed include is replaced by what it names; a malformed one is kept for the
    // directive table to report like any other directive's mistake.
    MaybeError finish(Statement st, std::vector<Statement>* out) {
        if (st.name == "include" && !st.has_block && st.args.size() == 1) {
            return expand_include(st, include_dir_, depth_, out);
        }
        out->push_back(std::move(st));
        return std::nullopt;
    }

    Error error(int line, std::string message) const {
        return Error{lexer_.file(), line, std::move(message)};
    }

    Lexer lexer_;
    const std::string& include_dir_;
    int depth_;
};

MaybeError parse_at_depth(std::string_view text, const std::string& name,
                          const std::string& include_dir, int depth, std::vector<Statement>* out) {
    return Parser(text, name, include_dir, depth).parse(out);
}

}  // namespace

MaybeError parse_text(std::string_view text, const std::string& name,
                      const std::string& include_dir, std::vector<Statement>* out) {
    return parse_at_depth(text, name, include_dir, 0, out);
}

MaybeError parse_file(const std::string& path, const std::string& include_dir,
                      std::vector<Statement>* out) {
    std::string text;
    if (auto reason = read_file(path, &text)) {
        return Error{path, 0, *reason};
    }
    return parse_text(text, path, include_dir, out);
}

}  // namespace pushrelay::conf
