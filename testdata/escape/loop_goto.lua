-- expect: exceeded its time limit
::top:: goto top
