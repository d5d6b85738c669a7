      *****************************************************************
      * XFERFND  - COMMAREA OF TRANSACTION XFER (FUNDS TRANSFER).
      * IN:  XF-FROM-ACCOUNT, XF-TO-ACCOUNT, XF-AMOUNT, XF-REFERENCE.
      * OUT: XF-RETURN-CODE, XF-MESSAGE, BALANCES, XF-CONFIRMATION.
      * XF-RETURN-CODE: 00 DONE, 10/11 ACCOUNT NOT FOUND, 20 NOT
      * ENOUGH FUNDS, 21 AMOUNT NOT POSITIVE, 30 SAME ACCOUNT,
      * 40 ACCOUNT FROZEN.
      * XFEV: SAME COMMAREA, VALIDATE ONLY (NOTHING IS POSTED).
      *****************************************************************
       01  XFER-COMMAREA.
           05  XF-FROM-ACCOUNT         PIC 9(10).
           05  XF-TO-ACCOUNT           PIC 9(10).
           05  XF-AMOUNT               PIC S9(9)V99 COMP-3.
           05  XF-REFERENCE            PIC X(16).
           05  XF-RETURN-CODE          PIC 9(2).
           05  XF-MESSAGE              PIC X(40).
           05  XF-FROM-BALANCE         PIC S9(11)V99 COMP-3.
           05  XF-TO-BALANCE           PIC S9(11)V99 COMP-3.
           05  XF-CONFIRMATION         PIC X(12).
