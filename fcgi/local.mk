# fcgi/local.mk - the FastCGI front end, its tests and examples (included
# by the top-level Makefile.am).
