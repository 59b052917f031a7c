package headerjson

import (
	"encoding/json"
	"testing"
)

func TestMarshal(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii_is_unchanged", "/synchub/a b.txt", `{"path":"/synchub/a b.txt"}`},
		{"a_latin_letter_is_escaped", "/Prüfung.pdf", `{"path":"/Pr\u00fcfung.pdf"}`},
		{"an_emoji_becomes_a_surrogate_pair", "/😀.jpg", `{"path":"/\ud83d\ude00.jpg"}`},
		{"delete_is_escaped", "/a\u007fb", `{"path":"/a\u007fb"}`},
		{"cjk_is_escaped", "/报价.txt", `{"path":"/\u62a5\u4ef7.txt"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(map[string]string{"path": tt.in})
			if err != nil || got != tt.want {
				t.Fatalf("Marshal(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
			if !Safe(got) {
				t.Errorf("%s is not header-safe", got)
			}
			var back map[string]string
			if err := json.Unmarshal([]byte(got), &back); err != nil || back["path"] != tt.in {
				t.Errorf("decodes to %q, %v", back["path"], err)
			}
		})
	}
	t.Run("raw_utf8_is_not_safe", func(t *testing.T) {
		if Safe(`{"path":"/ü"}`) {
			t.Error("raw UTF-8 passed as header-safe")
		}
	})
}
