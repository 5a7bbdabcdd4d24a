/** Big files for the lint and replay timings (test/gitops/lint-perf.test.ts). */
/** 500 services × 10 routes; `v2` moves every 10th service's tcp routes elsewhere and drops some routes. */
export function routesFile(v2 = false, services = 500): string {
  const out: string[] = ['_format_version: "3.0"', 'services:'];
  for (let s = 0; s < services; s++) {
    out.push(`- name: svc-${s}`, `  url: tcp://10.${s >> 8}.${s & 255}.1:${1000 + s}`, '  routes:');
    for (let r = 0; r < 10; r++) {
      const n = s * 10 + r;
      if (v2 && n % 97 === 0) continue;
      if (r % 3 === 0)
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tls_passthrough]',
          `    snis: [h${n}.example.com, "*.w${n}.example.com"]`,
        );
      else if (r % 3 === 1)
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tcp]',
          `    sources: [{ip: 10.${(n >> 8) & 255}.${n & 255}.0/24}, {ip: "2001:db8:${n.toString(16)}::/48"}]`,
        );
      else
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tcp, udp]',
          `    destinations: [{ip: 192.168.${n >> 8}.${n & 255}, port: ${v2 && s % 10 === 0 ? 3000 : 2000 + r}}]`,
        );
    }
  }
  // a shadowed route (every source of h0.example.com goes to 'shadower', of higher priority) and a tie with r-1
  out.push(
    '- name: extra',
    '  url: tcp://10.9.9.9:1',
    '  routes:',
    '  - name: shadowed',
    '    protocols: [tls_passthrough]',
    '    snis: [h0.example.com]',
    '  - name: shadower',
    '    protocols: [tls_passthrough]',
    '    snis: [h0.example.com]',
    '    sources: [{ip: 0.0.0.0/0}, {ip: "::/0"}]',
    '  - name: tie',
    '    protocols: [tcp]',
    '    sources: [{ip: 10.0.1.0/24}, {ip: "2001:db8:1::/48"}]',
  );
  return out.join('\n') + '\n';
}

/** `n` sessions as json access log lines, spread over the routes of `routesFile()`. */
export function sessionsLog(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 5000,
      r = k % 10;
    const base = { client_port: 40000 + (i % 20000), server_ip: '127.0.0.1', route_id: null };
    if (r % 3 === 0)
      lines.push(
        JSON.stringify({
          protocol: 'tls',
          client_ip: '172.16.0.1',
          server_port: 443,
          sni: i % 2 ? `h${k}.example.com` : `a.w${k}.example.com`,
          ...base,
        }),
      );
    else if (r % 3 === 1)
      lines.push(
        JSON.stringify({ protocol: 'tcp', client_ip: `10.${(k >> 8) & 255}.${k & 255}.7`, server_port: 5000, ...base }),
      );
    else
      lines.push(
        JSON.stringify({
          protocol: 'tcp',
          client_ip: '172.16.0.1',
          ...base,
          server_ip: `192.168.${k >> 8}.${k & 255}`,
          server_port: 2000 + r,
        }),
      );
  }
  return lines.join('\n') + '\n';
}
