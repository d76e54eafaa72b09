module ftpfs

go 1.26.8

require github.com/jlaffaye/ftp v0.2.4
