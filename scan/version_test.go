package scan

import "testing"

func TestFromBanner(t *testing.T) {
	for _, tt := range []struct{ banner, want string }{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "ssh OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)"},
		{"SSH-2.0-dropbear_2022.83\r\n", "ssh Dropbear sshd 2022.83 (protocol 2.0)"},
		{"SSH-1.99-OpenSSH_3.9p1\n", "ssh OpenSSH 3.9p1 (protocol 2.0)"},
		{"220 (vsFTPd 3.0.3)\r\n", "ftp vsftpd 3.0.3"},
		{"220 ProFTPD 1.3.8 Server (Debian)\r\n", "ftp ProFTPD 1.3.8"},
		{"220 mx.example ESMTP Exim 4.96 Mon, 30 Nov 2026\r\n", "smtp Exim smtpd 4.96"},
		{"+OK Dovecot (Debian) ready.\r\n", "pop3 Dovecot pop3d"},
		{"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", "imap Dovecot imapd"},
		{"HTTP/1.1 400 Bad Request\r\nServer: Microsoft-IIS/10.0\r\n\r\n", "http Microsoft IIS httpd 10.0"},
		{"HTTP/1.0 200 OK\r\n\r\n", "http"},
	} {
		v, ok := fromBanner([]byte(tt.banner))
		if got := v.Name + " " + v.VersionText(); !ok || got != tt.want && v.Name != tt.want {
			t.Errorf("%q: %q %v, want %q", tt.banner, got, ok, tt.want)
		}
	}
	if _, ok := fromBanner([]byte("\x00\x01binary")); ok {
		t.Error("binary data named a service")
	}
}

func FuzzServiceWords(f *testing.F) {
	for _, s := range []string{"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "220 (vsFTPd 3.0.3)\r\n", "HTTP/1.1 200 OK\r\nServer: a/b (c)\r\n\r\n", "SSH-", "HTTP/\nServer:"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fromBanner(b)
		fromHTTP(b)
	})
}
