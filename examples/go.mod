module github.com/hubbub-go/hubbub/examples

go 1.26.0

require github.com/hubbub-go/hubbub v0.0.0

replace github.com/hubbub-go/hubbub => ..
