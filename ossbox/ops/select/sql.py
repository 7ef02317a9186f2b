"""OSS Select's SQL dialect: tokenizer and recursive-descent parser into a small AST.

Hand-written rather than sqlglot (see docs/select.md "Why not sqlglot"): OSS accepts statements
sqlglot's tokenizer refuses (a stray trailing quote, `expr AS a AS b`), its FROM clause is a JSON
path (`ossobject.objects[*]`), and everything OSS does not offer (GROUP BY, ORDER BY, JOIN,
aggregates in WHERE, `||` in the select list) must be refused anyway, which is simplest where the
grammar only has what OSS has.

Every syntax or semantic error raises `SqlError(message)`; the operation turns it into OSS's
400 InvalidSqlStatement-style error before any byte of the response is sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Union


class SqlError(Exception):
    pass


# -- tokens --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tok:
    kind: str        # "name", "qname" (double-quoted identifier), "str", "num", "op", "end"
    text: str
    pos: int


_OPS = ("<>", "!=", "<=", ">=", "||", "=", "<", ">", "(", ")", ",", ".", "*", "+", "-", "/", "%",
        "[", "]")


def tokenize(sql: str) -> list[Tok]:
    out: list[Tok] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
            continue
        if c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    # OSS accepts a statement ending in one stray quote (the SDKs' own tests send
                    # "... from ossobject'"); an unterminated literal with text after it is an error.
                    if sql[i + 1:].strip() == "":
                        return out + [Tok("end", "", i)]
                    raise SqlError(f"unterminated string literal at position {i}")
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(sql[j])
                j += 1
            out.append(Tok("str", "".join(buf), i))
            i = j + 1
            continue
        if c == '"':
            j = sql.find('"', i + 1)
            if j < 0:
                raise SqlError(f"unterminated quoted identifier at position {i}")
            out.append(Tok("qname", sql[i + 1:j], i))
            i = j + 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            j = i
            while j < n and (sql[j].isdigit() or sql[j] == "."):
                j += 1
            if j < n and sql[j] in "eE" and j + 1 < n and (sql[j + 1].isdigit() or sql[j + 1] in "+-"):
                j += 2
                while j < n and sql[j].isdigit():
                    j += 1
            out.append(Tok("num", sql[i:j], i))
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(Tok("name", sql[i:j], i))
            i = j
            continue
        for op in _OPS:
            if sql.startswith(op, i):
                out.append(Tok("op", op, i))
                i += len(op)
                break
        else:
            raise SqlError(f"unexpected character {c!r} at position {i}")
    out.append(Tok("end", "", n))
    return out


# -- AST -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Column:
    """A reference to input data: `_3`, `Year`, `person.firstname`, `s.a[0].b`.
    `path` is the list of steps (str keys, int indexes) after any table alias was removed."""
    path: tuple
    text: str


@dataclass(frozen=True)
class Unary:
    op: str          # "-", "not"
    arg: object


@dataclass(frozen=True)
class Binary:
    op: str          # arithmetic, comparison, "and", "or", "||"
    left: object
    right: object


@dataclass(frozen=True)
class Like:
    arg: object
    pattern: object
    escape: Optional[object]
    negated: bool


@dataclass(frozen=True)
class InList:
    arg: object
    items: tuple
    negated: bool


@dataclass(frozen=True)
class Between:
    arg: object
    low: object
    high: object
    negated: bool


@dataclass(frozen=True)
class IsNull:
    arg: object
    negated: bool


@dataclass(frozen=True)
class Cast:
    arg: object
    type: str


@dataclass(frozen=True)
class Func:
    name: str        # lower-case
    args: tuple
    star: bool = False   # COUNT(*)


# Parentheses nest at most this deep (parsing and evaluating recurse once per level).
MAX_DEPTH = 64
AGGREGATES = frozenset(("count", "sum", "avg", "min", "max"))
SCALARS = {  # name: (min args, max args)
    "lower": (1, 1), "upper": (1, 1), "trim": (1, 1), "ltrim": (1, 1), "rtrim": (1, 1),
    "substring": (2, 3), "substr": (2, 3), "char_length": (1, 1), "character_length": (1, 1),
    "length": (1, 1), "concat": (1, 64), "coalesce": (1, 64), "nullif": (2, 2), "abs": (1, 1),
}
CAST_TYPES = {"int": "int", "integer": "int", "bigint": "int", "smallint": "int", "tinyint": "int",
              "double": "double", "float": "double", "real": "double", "decimal": "decimal",
              "numeric": "decimal", "string": "string", "varchar": "string", "char": "string",
              "bool": "bool", "boolean": "bool"}
# Words that end an expression or start a clause: never read as a bare alias.
_RESERVED = frozenset(("select", "from", "where", "and", "or", "not", "like", "in", "between", "is",
                       "null", "as", "limit", "escape", "group", "order", "by", "join", "on",
                       "having", "union", "inner", "left", "right", "outer", "cross", "full",
                       "offset", "distinct", "case", "when", "then", "else", "end"))
_UNSUPPORTED_CLAUSES = {"group": "GROUP BY", "order": "ORDER BY", "join": "JOIN", "inner": "JOIN",
                        "left": "JOIN", "right": "JOIN", "outer": "JOIN", "cross": "JOIN",
                        "full": "JOIN", "having": "HAVING", "union": "UNION", "offset": "OFFSET"}


@dataclass(frozen=True)
class SelectItem:
    expr: object
    alias: Optional[str]


@dataclass
class Query:
    star: bool
    items: list                     # SelectItem (empty when star)
    source_path: tuple              # FROM ossobject<path>: steps, "*" for [*]
    where: Optional[object]
    limit: Optional[int]
    aggregate: bool = False
    columns: list = field(default_factory=list)   # every Column the query reads


Expr = Union[Literal, Column, Unary, Binary, Like, InList, Between, IsNull, Cast, Func]


# -- parser --------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, sql: str):
        self.toks = tokenize(sql)
        self.i = 0
        self.depth = 0
        self.alias: Optional[str] = None

    # token helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.peek()
        self.i += 1
        return t

    def is_word(self, word: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "name" and t.text.lower() == word

    def is_op(self, op: str) -> bool:
        t = self.peek()
        return t.kind == "op" and t.text == op

    def accept_word(self, word: str) -> bool:
        if self.is_word(word):
            self.i += 1
            return True
        return False

    def accept_op(self, op: str) -> bool:
        if self.is_op(op):
            self.i += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            self.fail(f"expected {word.upper()}")

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            self.fail(f"expected '{op}'")

    def fail(self, what: str):
        t = self.peek()
        near = t.text if t.kind != "end" else "end of statement"
        raise SqlError(f"{what} near '{near}' at position {t.pos}")

    # statement
    def query(self) -> Query:
        if self.peek().kind == "end":
            raise SqlError("the SQL statement is empty")
        self.expect_word("select")
        star = False
        items: list[SelectItem] = []
        if self.accept_op("*"):
            star = True
        else:
            while True:
                expr = self.expr()
                alias = None
                # `expr AS a AS b` is accepted by OSS (the SDKs' tests send it); the last one names it.
                while True:
                    if self.accept_word("as"):
                        alias = self.name_token("alias")
                    elif self.peek().kind in ("name", "qname") and not self._reserved(self.peek()):
                        alias = self.name_token("alias")
                    else:
                        break
                items.append(SelectItem(expr, alias))
                if not self.accept_op(","):
                    break
        self.expect_word("from")
        source = self.source()
        where = None
        limit = None
        if self.accept_word("where"):
            where = self.expr()
        if self.accept_word("limit"):
            t = self.next()
            if t.kind != "num" or not t.text.isdigit():
                raise SqlError(f"LIMIT needs a non-negative integer at position {t.pos}")
            limit = int(t.text)
        t = self.peek()
        if t.kind != "end":
            if t.kind == "name" and t.text.lower() in _UNSUPPORTED_CLAUSES:
                raise SqlError(f"{_UNSUPPORTED_CLAUSES[t.text.lower()]} is not supported")
            self.fail("unexpected text")
        q = Query(star, items, source, where, limit)
        _check(q)
        return q

    def _reserved(self, t: Tok) -> bool:
        return t.kind == "name" and t.text.lower() in _RESERVED

    def name_token(self, what: str) -> str:
        t = self.next()
        if t.kind == "qname" or (t.kind == "name" and t.text.lower() not in _RESERVED):
            return t.text
        self.i -= 1
        self.fail(f"expected {what}")

    def source(self) -> tuple:
        t = self.next()
        if t.kind != "name" or t.text.lower() != "ossobject":
            self.i -= 1
            self.fail("the FROM clause must name ossobject")
        steps: list = []
        while True:
            if self.accept_op("."):
                steps.append(self.name_token("a key"))
            elif self.accept_op("["):
                if self.accept_op("*"):
                    steps.append("*")
                else:
                    n = self.next()
                    if n.kind != "num" or not n.text.isdigit():
                        raise SqlError(f"expected an array index at position {n.pos}")
                    steps.append(int(n.text))
                self.expect_op("]")
            else:
                break
        if self.accept_word("as"):
            self.alias = self.name_token("table alias")
        elif self.peek().kind in ("name", "qname") and not self._reserved(self.peek()):
            self.alias = self.next().text
        return tuple(steps)

    # expressions, lowest precedence first
    def expr(self):
        return self.or_expr()

    def or_expr(self):
        left = self.and_expr()
        while self.accept_word("or"):
            left = Binary("or", left, self.and_expr())
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.accept_word("and"):
            left = Binary("and", left, self.not_expr())
        return left

    def not_expr(self):
        if self.accept_word("not"):
            return Unary("not", self.not_expr())
        return self.comparison()

    def comparison(self):
        left = self.additive()
        t = self.peek()
        if t.kind == "op" and t.text in ("=", "!=", "<>", "<", ">", "<=", ">="):
            self.i += 1
            op = "!=" if t.text == "<>" else t.text
            return Binary(op, left, self.additive())
        negated = False
        if self.is_word("not") and (self.is_word("like", 1) or self.is_word("in", 1)
                                    or self.is_word("between", 1)):
            self.i += 1
            negated = True
        if self.accept_word("like"):
            pattern = self.additive()
            escape = self.additive() if self.accept_word("escape") else None
            return Like(left, pattern, escape, negated)
        if self.accept_word("in"):
            self.expect_op("(")
            items = [self.expr()]
            while self.accept_op(","):
                items.append(self.expr())
            self.expect_op(")")
            return InList(left, tuple(items), negated)
        if self.accept_word("between"):
            low = self.additive()
            self.expect_word("and")
            return Between(left, low, self.additive(), negated)
        if negated:
            self.fail("expected LIKE, IN or BETWEEN")
        if self.accept_word("is"):
            neg = self.accept_word("not")
            self.expect_word("null")
            return IsNull(left, neg)
        return left

    def additive(self):
        left = self.term()
        while True:
            t = self.peek()
            if t.kind == "op" and t.text in ("+", "-", "||"):
                self.i += 1
                left = Binary(t.text, left, self.term())
            else:
                return left

    def term(self):
        left = self.unary()
        while True:
            t = self.peek()
            if t.kind == "op" and t.text in ("*", "/", "%"):
                self.i += 1
                left = Binary(t.text, left, self.unary())
            else:
                return left

    def unary(self):
        if self.accept_op("-"):
            return Unary("-", self.unary())
        if self.accept_op("+"):
            return self.unary()
        return self.primary()

    def primary(self):
        t = self.next()
        if t.kind == "num":
            return Literal(_number(t))
        if t.kind == "str":
            return Literal(t.text)
        if t.kind == "op" and t.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SqlError(f"the statement nests parentheses deeper than {MAX_DEPTH}")
            e = self.expr()
            self.expect_op(")")
            self.depth -= 1
            return e
        if t.kind == "qname":
            return self.path(t.text)
        if t.kind == "name":
            word = t.text.lower()
            if word == "null":
                return Literal(None)
            if word in ("true", "false"):
                return Literal(word == "true")
            if self.is_op("("):
                return self.call(word, t)
            if word in _RESERVED:
                self.i -= 1
                self.fail("expected an expression")
            return self.path(t.text)
        self.i -= 1
        self.fail("expected an expression")

    def call(self, word: str, t: Tok):
        self.expect_op("(")
        if word == "cast":
            arg = self.expr()
            self.expect_word("as")
            ty = self.next()
            if ty.kind != "name" or ty.text.lower() not in CAST_TYPES:
                raise SqlError(f"unsupported CAST type {ty.text!r} at position {ty.pos}")
            if self.accept_op("("):       # DECIMAL(p, s), VARCHAR(n): the size is not kept
                while not self.accept_op(")"):
                    if self.next().kind == "end":
                        self.fail("expected ')'")
            self.expect_op(")")
            return Cast(arg, CAST_TYPES[ty.text.lower()])
        if word in AGGREGATES:
            if word == "count" and self.accept_op("*"):
                self.expect_op(")")
                return Func("count", (), star=True)
            arg = self.expr()
            self.expect_op(")")
            return Func(word, (arg,))
        if word not in SCALARS:
            raise SqlError(f"unsupported function {t.text!r} at position {t.pos}")
        args = []
        if word in ("substring", "substr"):
            args.append(self.expr())
            if self.accept_word("from") or self.accept_op(","):
                args.append(self.expr())
                if self.accept_word("for") or self.accept_op(","):
                    args.append(self.expr())
        elif not self.is_op(")"):
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
        self.expect_op(")")
        low, high = SCALARS[word]
        if not low <= len(args) <= high:
            raise SqlError(f"wrong number of arguments to {t.text} at position {t.pos}")
        return Func(word, tuple(args))

    def path(self, first: str) -> Column:
        steps: list = [first]
        text = first
        while True:
            if self.is_op(".") and self.peek(1).kind in ("name", "qname"):
                self.i += 1
                name = self.next().text
                steps.append(name)
                text += "." + name
            elif self.is_op("["):
                self.i += 1
                n = self.next()
                if n.kind == "num" and n.text.isdigit():
                    steps.append(int(n.text))
                elif n.kind == "str":
                    steps.append(n.text)
                else:
                    raise SqlError(f"expected an array index at position {n.pos}")
                self.expect_op("]")
                text += f"[{n.text}]"
            else:
                break
        return Column(tuple(steps), text)


def _number(t: Tok):
    text = t.text
    try:
        if text.isdigit():
            return int(text)
        return Decimal(text)   # exact: compared with numbers of any kind (see evaluate.py)
    except Exception:
        raise SqlError(f"invalid number {text!r} at position {t.pos}")


# -- semantic checks -----------------------------------------------------------------------------
def walk(e):
    yield e
    for child in _children(e):
        yield from walk(child)


def _children(e):
    if isinstance(e, Unary):
        return (e.arg,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Like):
        return tuple(x for x in (e.arg, e.pattern, e.escape) if x is not None)
    if isinstance(e, InList):
        return (e.arg,) + e.items
    if isinstance(e, Between):
        return (e.arg, e.low, e.high)
    if isinstance(e, (IsNull, Cast)):
        return (e.arg,)
    if isinstance(e, Func):
        return e.args
    return ()


def _is_agg(e) -> bool:
    return isinstance(e, Func) and e.name in AGGREGATES


def _check(q: Query) -> None:
    if q.where is not None:
        for e in walk(q.where):
            if _is_agg(e):
                raise SqlError("aggregate functions are not allowed in the WHERE clause")
    aggs = 0
    for item in q.items:
        nodes = list(walk(item.expr))
        for e in nodes:
            if isinstance(e, Binary) and e.op == "||":
                # OSS refuses `||` in the select list (the SDKs' invalid-SQL tests); it filters only
                raise SqlError("the || operator is only supported in the WHERE clause")
        found = [e for e in nodes if _is_agg(e)]
        for agg in found:
            if any(_is_agg(x) for arg in agg.args for x in walk(arg)):
                raise SqlError("aggregate functions cannot be nested")
        if found:
            aggs += 1
            if any(isinstance(e, Column) for e in nodes if not any(e is x for a in found for x in walk(a))):
                raise SqlError("a column outside an aggregate cannot be selected with aggregates")
    if aggs and aggs != len(q.items):
        raise SqlError("aggregate and non-aggregate expressions cannot be mixed in the select list")
    q.aggregate = aggs > 0
    exprs = [i.expr for i in q.items] + ([q.where] if q.where is not None else [])
    q.columns = [e for x in exprs for e in walk(x) if isinstance(e, Column)]


def parse(sql: str) -> Query:
    p = _Parser(sql)
    try:
        q = p.query()
    except RecursionError:
        # long chains of unary operators (`- - - x`, `not not ...`) recurse without parentheses
        raise SqlError("the statement is nested too deeply")
    if p.alias is not None:
        # `s.field` with `FROM ossobject s`: the alias names the record itself
        strip = lambda c: Column(c.path[1:], c.text.split(".", 1)[1] if "." in c.text else c.text) \
            if len(c.path) > 1 and isinstance(c.path[0], str) and c.path[0].lower() == p.alias.lower() else c
        q.items = [SelectItem(_rewrite(i.expr, strip), i.alias) for i in q.items]
        q.where = _rewrite(q.where, strip) if q.where is not None else None
        _check(q)
    return q


def _rewrite(e, fn):
    if isinstance(e, Column):
        return fn(e)
    if isinstance(e, Unary):
        return Unary(e.op, _rewrite(e.arg, fn))
    if isinstance(e, Binary):
        return Binary(e.op, _rewrite(e.left, fn), _rewrite(e.right, fn))
    if isinstance(e, Like):
        return Like(_rewrite(e.arg, fn), _rewrite(e.pattern, fn),
                    _rewrite(e.escape, fn) if e.escape is not None else None, e.negated)
    if isinstance(e, InList):
        return InList(_rewrite(e.arg, fn), tuple(_rewrite(x, fn) for x in e.items), e.negated)
    if isinstance(e, Between):
        return Between(_rewrite(e.arg, fn), _rewrite(e.low, fn), _rewrite(e.high, fn), e.negated)
    if isinstance(e, IsNull):
        return IsNull(_rewrite(e.arg, fn), e.negated)
    if isinstance(e, Cast):
        return Cast(_rewrite(e.arg, fn), e.type)
    if isinstance(e, Func):
        return Func(e.name, tuple(_rewrite(a, fn) for a in e.args), e.star)
    return e
