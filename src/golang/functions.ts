/** The crypto/tls functions gokeylog probes, by their pclntab names. */
export const WRITE_KEY_LOG = 'crypto/tls.(*Config).writeKeyLog';
/** Entry probes of `conns`: the first argument of both is the *tls.Conn. */
export const CONN_READ = 'crypto/tls.(*Conn).Read';
export const CONN_WRITE = 'crypto/tls.(*Conn).Write';

const SHORT_NAME: Record<string, string> = { [WRITE_KEY_LOG]: 'writeKeyLog', [CONN_READ]: '(*Conn).Read', [CONN_WRITE]: '(*Conn).Write' };

/** The short form messages use ("writeKeyLog", "(*Conn).Read"). */
export const shortName = (fn: string): string => SHORT_NAME[fn] ?? fn;
