## ctl/local.mk: filled in by the ctl part
