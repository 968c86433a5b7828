#if canImport(Glibc)
import Glibc
#endif
import CSPF
import DeferWatchCore

/// SPF through libspf2 (Debian's), with every DNS lookup it makes answered by the given
/// resolver: the configured resolvers in the daemon, recorded answers in tests. The
/// lookups' answers are the finding's evidence.
public struct LibSPF2: SPFEvaluator {
    /// RFC 7208's limit of DNS-querying mechanisms and modifiers.
    public var maxDNSMechanisms = 10

    public init() {}

    /// RFC 7208's limit of DNS lookups that find nothing (void lookups).
    public var maxVoidLookups = 2

    /// libspf2 counts the DNS-querying mechanisms of each record on its own, not of the
    /// whole evaluation as RFC 7208 section 4.6.4 says, and has no void-lookup limit: the
    /// lookups are counted here. The first TXT lookup is the policy itself; the A/AAAA
    /// lookups of the names an mx or ptr mechanism found are part of that mechanism.
    private final class Context {
        let resolver: any DNSResolver
        var seen: [String] = []
        var asked = false
        var querying = 0
        var voids = 0
        var found: Set<String> = []
        init(_ resolver: any DNSResolver) { self.resolver = resolver }

        func count(_ name: String, _ type: DNSType, _ answer: DNSAnswer) {
            let lower = name.lowercased()
            let policy = !asked && type == .txt
            asked = true
            if !policy && !((type == .a || type == .aaaa) && found.contains(lower)) { querying += 1 }
            if type == .mx || type == .ptr {
                for r in answer.records { found.insert(String(r.value.split(separator: " ").last ?? "").lowercased()) }
            }
            if !policy, answer == .nxdomain || answer == .noData { voids += 1 }
        }
    }

    public func evaluate(ip: IPAddress, sender: String, helo: String?, resolver: any DNSResolver) -> SPFOutcome {
        let context = Context(resolver)
        var comment = [CChar](repeating: 0, count: 2048)
        var errors = [CChar](repeating: 0, count: 8192)
        let code = withExtendedLifetime(context) {
            dw_spf_check(ip.description, helo ?? "", sender, Int32(maxDNSMechanisms), { ctx, name, type, answer in
                let c = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
                let n = String(decoding: UnsafeRawBufferPointer(start: name, count: strlen(name!)), as: UTF8.self)
                guard let t = DNSType(rawValue: Int(type)) else {
                    dw_spf_answer_status(answer, 2, 0)
                    return
                }
                let a = c.resolver.query(n, t)
                c.count(n, t, a)
                for line in a.describe(n, t) where !c.seen.contains(line) { c.seen.append(line) }
                switch a {
                case .records(let rs):
                    dw_spf_answer_status(answer, 0, rs.first?.ttl ?? 0)
                    for r in rs { _ = dw_spf_answer_add(answer, r.value) }
                case .nxdomain: dw_spf_answer_status(answer, 1, 0)
                case .noData: dw_spf_answer_status(answer, 2, 0)
                case .failed: dw_spf_answer_status(answer, 3, 0)
                }
            }, Unmanaged.passUnretained(context).toOpaque(), &comment, comment.count, &errors, errors.count)
        }
        let results: [Int32: SPFResult] = [1: .neutral, 2: .pass, 3: .fail, 4: .softfail, 5: .none, 6: .temperror, 7: .permerror]
        func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        var messages = text(errors).split(separator: "\n").map(String.init)
        var result = results[code]
        if context.querying > maxDNSMechanisms {
            messages.append("\(context.querying) DNS-querying mechanisms and modifiers: more than the \(maxDNSMechanisms) RFC 7208 allows (section 4.6.4)")
            result = .permerror
        } else if context.voids > maxVoidLookups {
            messages.append("\(context.voids) lookups found nothing: more than the \(maxVoidLookups) void lookups RFC 7208 allows (section 4.6.4)")
            result = .permerror
        }
        return SPFOutcome(result: result, comment: text(comment), errors: messages, seen: context.seen)
    }
}
