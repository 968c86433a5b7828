#if canImport(Glibc)
import Glibc
#endif
import CResolv
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// DNS through glibc's libresolv (res_nmkquery/res_nsend on a state of its own, answers read
/// with ns_parserr): the resolvers of `[dns] servers`, else /etc/resolv.conf's. One query at
/// a time per resolver (a lock); make one per thread to ask in parallel.
public final class SystemResolver: DNSResolver, @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = ConditionLock()

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(config: DNSConfig) throws(SetupError) {
        var err = [CChar](repeating: 0, count: 256)
        let addresses = config.servers.map { strdup($0.address) }
        defer { addresses.forEach { free($0) } }
        let ports = config.servers.map { Int32($0.port) }
        let timeout = Int32(max(1, (config.timeout + 999_999) / 1_000_000))
        let made: OpaquePointer? = addresses.map { Optional(UnsafePointer($0!)) }.withUnsafeBufferPointer { a in
            ports.withUnsafeBufferPointer { p in
                dw_resolver_new(a.baseAddress, p.baseAddress, Int32(addresses.count), timeout, Int32(config.attempts), &err, err.count)
            }
        }
        guard let made else {
            let reason = err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            throw SetupError(description: "DNS: " + String(decoding: reason, as: UTF8.self))
        }
        handle = made
    }

    deinit { dw_resolver_free(handle) }

    public func query(_ name: String, _ type: DNSType) -> DNSAnswer {
        lock.lock()
        defer { lock.unlock() }
        let capacity = 65_536
        var answer = [UInt8](repeating: 0, count: capacity)
        let n = answer.withUnsafeMutableBufferPointer { dw_query(handle, name, Int32(type.rawValue), $0.baseAddress, Int32(capacity)) }
        if n == -2 { return .failed("not a valid domain name") }
        if n < 0 { return .failed(errno == ETIMEDOUT || errno == 0 ? "timed out" : String(cString: strerror(errno))) }
        return answer.withUnsafeBufferPointer { msg -> DNSAnswer in
            let rcode = dw_answer_rcode(msg.baseAddress, n)
            switch rcode {
            case 0: break
            case 3: return .nxdomain
            case 2: return .failed("SERVFAIL")
            case 5: return .failed("REFUSED")
            case -1: return .failed("an answer that does not parse")
            default: return .failed("response code \(rcode)")
            }
            let count = dw_answer_count(msg.baseAddress, n)
            var records: [DNSRecord] = []
            var value = [CChar](repeating: 0, count: 65_536)
            for i in 0..<max(0, count) {
                var t: Int32 = 0
                var ttl: UInt32 = 0
                let len = dw_answer_record(msg.baseAddress, n, i, &t, &ttl, &value, value.count)
                guard len >= 0, t == Int32(type.rawValue), let rt = DNSType(rawValue: Int(t)) else { continue }
                let bytes = value.prefix(Int(len)).map { UInt8(bitPattern: $0) }
                records.append(DNSRecord(rt, String(decoding: bytes, as: UTF8.self), ttl: ttl))
            }
            return records.isEmpty ? .noData : .records(records)
        }
    }
}

