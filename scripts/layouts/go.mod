module gokeylog.layouts

go 1.15
