// A small pickle virtual machine: the opcodes of CPython's Lib/pickletools.py that torch.save
// (protocol 2 by default) and ordinary Python objects use. Nothing is ever imported or called:
// the few torch functions a checkpoint names become descriptions of tensors (see TorchPickle.swift),
// and any other class becomes an opaque `.object` so that optimizer state and the like can sit
// beside the weights without stopping the load.

/// A list or dict is shared by reference between the stack and the memo, as in Python.
final class PickleList {
    var items: [PickleValue] = []
}

final class PickleDict {
    private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var index: [String: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        if case let .string(name) = key {
            if let i = index[name] { items[i].value = value; return }
            index[name] = items.count
        }
        items.append((key, value))
    }

    subscript(name: String) -> PickleValue? {
        index[name].map { items[$0].value }
    }
}

indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as little-endian two's complement bytes (LONG1/LONG4).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A class or function named by GLOBAL / STACK_GLOBAL: module and qualified name.
    case global(String, String)
    case storage(StorageRef)
    case tensor(TensorRef)
    /// An instance of a class this reader does not model, by the name of its class or function.
    case object(String)

    var describe: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int, .bigInt: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        case let .global(m, n): return "\(m).\(n)"
        case .storage: return "a storage"
        case .tensor: return "a tensor"
        case let .object(name): return "a \(name) object"
        }
    }
}

/// Runs one pickle from `start` to its STOP opcode. `persistentLoad` resolves BINPERSID ids, and
/// `reduce` gives meaning to calls of globals (REDUCE); both are torch's hooks in its unpickler.
struct Unpickler {
    let reader: ByteReader
    var pos: Int
    var persistentLoad: (PickleValue) throws -> PickleValue
    var reduce: (_ module: String, _ name: String, _ args: [PickleValue]) throws -> PickleValue

    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(_ reader: ByteReader, at start: Int,
         persistentLoad: @escaping (PickleValue) throws -> PickleValue,
         reduce: @escaping (String, String, [PickleValue]) throws -> PickleValue) {
        self.reader = reader
        self.pos = start
        self.persistentLoad = persistentLoad
        self.reduce = reduce
    }

    private func fail(_ reason: String) -> CheckpointError {
        .unreadable(path: reader.path, reason: "pickle at byte \(pos): \(reason)")
    }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        try reader.check(pos, n, "pickle data")
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: reader.bytes[pos ..< pos + n])
    }

    private mutating func byte() throws -> Int { Int(try take(1)[0]) }
    private mutating func u16() throws -> Int { defer { pos += 2 }; return Int(try reader.u16(pos)) }
    private mutating func u32() throws -> Int { defer { pos += 4 }; return Int(try reader.u32(pos)) }
    private mutating func i32() throws -> Int { defer { pos += 4 }; return Int(Int32(bitPattern: try reader.u32(pos))) }

    private mutating func u64() throws -> Int {
        let v = try reader.u64(pos)
        pos += 8
        guard v <= UInt64(Int.max) else { throw fail("length \(v) is too large") }
        return Int(v)
    }

    private mutating func text(_ n: Int) throws -> String { String(decoding: try take(n), as: UTF8.self) }

    /// Protocol 0 arguments end at a newline.
    private mutating func line() throws -> String {
        var end = pos
        while true {
            guard end < reader.bytes.count else { throw fail("unterminated text argument") }
            if reader.bytes[end] == 0x0A { break }
            end += 1
        }
        let s = try text(end - pos)
        pos += 1
        return s
    }

    /// LONG1 / LONG4: little-endian two's complement of any width.
    private func long(_ raw: UnsafeRawBufferPointer) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(Array(raw)) }
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(raw.count)) }
        return .int(Int(Int64(bitPattern: v)))
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail("stack underflow") }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("no MARK on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw fail("stack underflow") }
        return v
    }

    private mutating func setItems(_ items: [PickleValue]) throws {
        guard case let .dict(d) = try top() else { throw fail("SETITEM(S) on \(try top().describe)") }
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
    }

    private mutating func appendItems(_ items: [PickleValue]) throws {
        switch try top() {
        case let .list(l): l.items += items
        case .object: break  // appending to an opaque object (a set, a deque): nothing to keep
        default: throw fail("APPEND(S) on \(try top().describe)")
        }
    }

    private mutating func call(_ callee: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case let .global(module, name) = callee else { throw fail("REDUCE on \(callee.describe)") }
        let list: [PickleValue]
        switch args {
        case let .tuple(items): list = items
        case .none: list = []
        default: throw fail("REDUCE arguments are \(args.describe)")
        }
        return try reduce(module, name, list)
    }

    /// Runs to STOP and returns the pickled object; `pos` is then just past the STOP opcode.
    mutating func load() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                         // PROTO
            case 0x95: pos += 8                               // FRAME: a length hint only
            case 0x2E: return try pop()                       // STOP
            case 0x28: marks.append(stack.count)              // MARK
            case 0x29: stack.append(.tuple([]))               // EMPTY_TUPLE
            case 0x5D: stack.append(.list(PickleList()))      // EMPTY_LIST
            case 0x7D: stack.append(.dict(PickleDict()))      // EMPTY_DICT
            case 0x8F: stack.append(.object("set"))           // EMPTY_SET
            case 0x4E: stack.append(.none)                    // NONE
            case 0x88: stack.append(.bool(true))              // NEWTRUE
            case 0x89: stack.append(.bool(false))             // NEWFALSE
            case 0x4A: stack.append(.int(try i32()))          // BININT
            case 0x4B: stack.append(.int(try byte()))         // BININT1
            case 0x4D: stack.append(.int(try u16()))          // BININT2
            case 0x8A: stack.append(long(try take(try byte())))  // LONG1
            case 0x8B:                                        // LONG4
                let n = try i32()
                guard n >= 0 else { throw fail("negative LONG4 length") }
                stack.append(long(try take(n)))
            case 0x49:                                        // INT (protocol 0; "01"/"00" are bools)
                let s = try line()
                if s == "01" { stack.append(.bool(true)) } else if s == "00" { stack.append(.bool(false)) }
                else if let v = Int(s) { stack.append(.int(v)) } else { throw fail("bad INT \(s)") }
            case 0x4C:                                        // LONG (protocol 0)
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                guard let v = Int(s) else { throw fail("LONG \(s) does not fit 64 bits") }
                stack.append(.int(v))
            case 0x47:                                        // BINFLOAT: big-endian double
                let raw = try take(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x46:                                        // FLOAT (protocol 0)
                let s = try line()
                guard let v = Double(s) else { throw fail("bad FLOAT \(s)") }
                stack.append(.float(v))
            case 0x58: stack.append(.string(try text(try u32())))   // BINUNICODE
            case 0x8C: stack.append(.string(try text(try byte())))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(try u64())))   // BINUNICODE8
            case 0x56: stack.append(.string(try line()))            // UNICODE (raw-unicode-escape; ASCII here)
            case 0x54:                                              // BINSTRING (Python 2 str)
                let n = try i32()
                guard n >= 0 else { throw fail("negative BINSTRING length") }
                stack.append(.string(try text(n)))
            case 0x55: stack.append(.string(try text(try byte())))  // SHORT_BINSTRING
            case 0x53:                                              // STRING: a quoted repr
                var s = try line()
                if s.count >= 2, let q = s.first, q == "'" || q == "\"", s.last == q {
                    s = String(s.dropFirst().dropLast())
                }
                stack.append(.string(s))
            case 0x42: stack.append(.bytes(Array(try take(try u32()))))   // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(try byte()))))  // SHORT_BINBYTES
            case 0x8E, 0x96: stack.append(.bytes(Array(try take(try u64()))))  // BINBYTES8, BYTEARRAY8
            case 0x74: stack.append(.tuple(try popMark()))          // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))            // TUPLE1
            case 0x86:                                              // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87:                                              // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x6C:                                              // LIST
                let l = PickleList()
                l.items = try popMark()
                stack.append(.list(l))
            case 0x64:                                              // DICT
                let items = try popMark()
                stack.append(.dict(PickleDict()))
                try setItems(items)
            case 0x61: try appendItems([try pop()])                 // APPEND
            case 0x65: try appendItems(try popMark())               // APPENDS
            case 0x73:                                              // SETITEM
                let v = try pop(), k = try pop()
                try setItems([k, v])
            case 0x75: try setItems(try popMark())                  // SETITEMS
            case 0x90: _ = try popMark()                            // ADDITEMS (to a set)
            case 0x91: _ = try popMark(); stack.append(.object("frozenset"))  // FROZENSET
            case 0x30: _ = try pop()                                // POP
            case 0x31: _ = try popMark()                            // POP_MARK
            case 0x32: stack.append(try top())                      // DUP
            case 0x71: memo[try byte()] = try top()                 // BINPUT
            case 0x72: memo[try u32()] = try top()                  // LONG_BINPUT
            case 0x70:                                              // PUT
                guard let i = Int(try line()) else { throw fail("bad PUT index") }
                memo[i] = try top()
            case 0x94: memo[memo.count] = try top()                 // MEMOIZE
            case 0x68, 0x6A, 0x67:                                  // BINGET, LONG_BINGET, GET
                let i: Int
                if op == 0x68 { i = try byte() } else if op == 0x6A { i = try u32() }
                else if let v = Int(try line()) { i = v } else { throw fail("bad GET index") }
                guard let v = memo[i] else { throw fail("memo \(i) is empty") }
                stack.append(v)
            case 0x63:                                              // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module, name))
            case 0x93:                                              // STACK_GLOBAL
                guard case let .string(name) = try pop(), case let .string(module) = try pop() else {
                    throw fail("STACK_GLOBAL without two strings")
                }
                stack.append(.global(module, name))
            case 0x52:                                              // REDUCE
                let args = try pop(), callee = try pop()
                stack.append(try call(callee, args))
            case 0x81:                                              // NEWOBJ: cls.__new__(cls, *args)
                _ = try pop()
                let cls = try pop()
                stack.append(.object(cls.describe))
            case 0x92:                                              // NEWOBJ_EX
                _ = try pop(); _ = try pop()
                let cls = try pop()
                stack.append(.object(cls.describe))
            case 0x69:                                              // INST (protocol 0)
                let module = try line(), name = try line()
                _ = try popMark()
                stack.append(.object("\(module).\(name)"))
            case 0x6F:                                              // OBJ
                let items = try popMark()
                stack.append(.object(items.first?.describe ?? "object"))
            case 0x62:                                              // BUILD: __setstate__ or __dict__ update
                _ = try pop()                                       // state (an OrderedDict's _metadata, say) is not needed
                _ = try top()
            case 0x51:                                              // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x50:                                              // PERSID
                stack.append(try persistentLoad(.string(try line())))
            default:
                throw fail("unsupported opcode 0x" + String(op, radix: 16))
            }
        }
    }
}
